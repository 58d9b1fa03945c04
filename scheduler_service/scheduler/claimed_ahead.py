"""The ticks claimed ahead of their time and not started yet (``dispatcher.py``).

A worker holds each such tick until its time and starts it only if it is still registered
here; a stopping process takes them all out and gives them back (``unclaim_ahead``); a
pre-claimed tick let go of before its time is taken out (``pre_claimed_ticks.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from pymongo.errors import PyMongoError

from scheduler_service.scheduler.claims import Claim
from scheduler_service.stores.tick_releases import TickReleases

log = logging.getLogger(__name__)


class ClaimedAhead:
    def __init__(self) -> None:
        self._claims: dict[tuple[object, object], Claim] = {}  # by ``Claim.key``
        self._lock = threading.Lock()

    def add(self, claims: Iterable[Claim]) -> None:
        with self._lock:
            for claim in claims:
                self._claims[claim.key] = claim

    def holds(self, key: tuple[object, object]) -> bool:
        with self._lock:
            return key in self._claims

    def take(self, key: tuple[object, object]) -> bool:
        """Take the tick out; False if it was not here (taken out already)."""
        with self._lock:
            return self._claims.pop(key, None) is not None

    def take_all(self) -> list[Claim]:
        with self._lock:
            claims, self._claims = list(self._claims.values()), {}
        return claims

    def give_back_all(self, ticks: TickReleases, owner: str) -> int:
        """Take them all out and give them back (``TickReleases.unclaim``: waiting entries,
        due at their time, for any process): a stopping process."""
        claims = self.take_all()
        if not claims:
            return 0
        try:
            return ticks.unclaim([(c.job.id, c.entry) for c in claims], owner)
        except PyMongoError as exc:  # their leases run out instead: then re-run by others
            log.warning("could not give back %d ticks claimed ahead: %s", len(claims), exc)
            return 0
