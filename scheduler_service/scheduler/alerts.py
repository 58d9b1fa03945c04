"""Alerts: ``{"type": "tick.dead_lettered", "deadLetter": {...}}`` POSTed to
``ALERT_WEBHOOK_URL`` and to the job's ``alertEndpoint`` when a tick is dead-lettered.

Once per dead letter, however many processes run: the process whose write created the dead
letter holds its alert (``alert.state = pending``, with an owner and a lease in the
document, written in that same insert) and sends it from a small pool of threads of its own
(``ALERT_SENDERS``), so a worker never waits for an alert. One endpoint is sent to by one
sender at a time (its other alerts wait, parked, for that sender), so a slow or broken
endpoint holds one sender, not every other job's alerts. What waits in memory is bounded
(``ALERT_QUEUE_LIMIT`` in all, ``ALERT_PARKED_PER_ENDPOINT`` behind one endpoint): an alert
past a bound is left ``pending`` with its lease (logged and counted as ``deferred``) and
sent after the lease by the take-over below. An alert that waited past most of its lease
has it renewed before it is sent, and is skipped if another process took it over.

If the holder dies first, another process takes the alert over with a compare-and-set once
the lease has run out (``sweep``, from the poller). An alert goes out under the same SSRF
protection and timeout as a job's request, is tried ``ALERT_TRIES`` times with backoff, and
then recorded as ``sent`` or ``undeliverable`` (logged and counted): it is never
dead-lettered itself. Should a process die after sending and before recording that, the
alert is sent again; receivers can tell by its ``deadLetterId``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.dead_letter import Alert, AlertState, DeadLetter
from scheduler_service.delivery.attempt import AttemptRequest, perform
from scheduler_service.delivery.redaction import redact_urls
from scheduler_service.delivery.session import new_session as default_session
from scheduler_service.errors import DecryptionError
from scheduler_service.records import Job
from scheduler_service.schemas.dead_letters import DeadLetterResponseSchema
from scheduler_service.stores.dead_letters import DeadLetterStore

log = logging.getLogger(__name__)

EVENT = "tick.dead_lettered"
ALERT_TRIES = 3
ALERT_BACKOFF_S = (1.0, 4.0)  # waits between the tries
ALERT_SENDERS = 4  # threads sending alerts, per process
ALERT_QUEUE_LIMIT = 256  # alerts held in memory; beyond, left pending for the take-over
ALERT_PARKED_PER_ENDPOINT = 16  # alerts waiting behind the one being sent to their endpoint
RESPONSE_LIMIT = 1024  # bytes of an alert's answer read (and not kept)
SWEEP_LIMIT = 100
SWEEP_EVERY = timedelta(seconds=10)  # how often the poller looks for alerts left behind

_view = DeadLetterResponseSchema()
_Item = tuple[DeadLetter, tuple[str, ...]]  # a dead letter and where its alert goes


def _endpoint(targets: tuple[str, ...]) -> str:
    """What one sender at a time sends to: the job's ``alertEndpoint`` (last) if it has one."""
    return targets[-1]


def alert_payload(dead_letter: DeadLetter) -> dict[str, Any]:
    """The alert's body: the dead letter as the API shows it."""
    return {"type": EVENT, "deadLetter": _view.dump(dead_letter)}


class AlertSender:
    def __init__(
        self, dead_letters: DeadLetterStore, config: Config, clock: Clock, owner: str,
        *, session_factory: Callable[[], Any] = default_session,
        cipher: HeaderCipher | None = None,
    ) -> None:  # fmt: skip
        self.dead_letters = dead_letters
        self.cipher = cipher or HeaderCipher()  # opens a job's sealed ``alertEndpoint``
        self.config = config
        self.clock = clock
        self.owner = owner
        self._session_factory = session_factory
        self._queue: queue.Queue[_Item | None] = queue.Queue()  # admitted by ``_held``
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # guards what follows
        self._held = 0  # alerts admitted and not yet done: queued, parked or being sent
        self._busy: set[str] = set()  # endpoints a sender is sending to
        self._parked: dict[str, deque[_Item]] = {}  # alerts waiting for a busy endpoint
        self._holding: set[ObjectId] = set()  # dead letters of the alerts held: sweep skips
        self._next_sweep: datetime | None = None

    # -- what settlement asks ---------------------------------------------------------------

    def targets(self, alert_endpoint: str | None) -> tuple[str, ...]:
        """Where a dead letter of a job with this ``alertEndpoint`` (as stored: sealed with
        ``ENCRYPTION_KEY``, or in clear) is announced. One no key opens is left out."""
        try:
            own = self.cipher.open_secret(alert_endpoint)
        except DecryptionError as exc:
            log.error("a job's alertEndpoint is left out of its alert: %s", exc)
            own = None
        urls = (self.config.alert_webhook_url, own)
        return tuple(dict.fromkeys(url for url in urls if url))

    def new_alert(self, targets: tuple[str, ...], now: datetime) -> Alert:
        """The alert a new dead letter starts with: held by this process, if it has targets."""
        if not targets:
            return Alert()
        return Alert(AlertState.PENDING, self.owner, now + self.lease)

    def submit(self, dead_letter: DeadLetter, targets: tuple[str, ...]) -> bool:
        """Send the alert of a dead letter this process holds, from a sender thread. False
        if too many wait already: the alert stays pending and is taken over after its lease."""
        if not targets or self._stopping.is_set():
            return False
        self._ensure_threads()
        with self._lock:
            full = (self._held >= ALERT_QUEUE_LIMIT
                    or len(self._parked.get(_endpoint(targets), ())) >= ALERT_PARKED_PER_ENDPOINT)
            if not full:
                self._held += 1
                self._holding.add(dead_letter.id)
        if full:
            metrics.record_alert("deferred")
            log.warning("too many alerts waiting: the alert of dead letter %s stays pending "
                        "and is sent after its lease", dead_letter.id)  # fmt: skip
            return False
        self._queue.put((dead_letter, targets))
        return True

    @property
    def lease(self) -> timedelta:
        """Longer than every try of every target may take, with a lease's margin."""
        one_try = self.config.job_timeout_ms / 1000
        total = 2 * ALERT_TRIES * one_try + sum(ALERT_BACKOFF_S)
        return timedelta(seconds=total, milliseconds=self.config.job_lease_timeout_ms)

    # -- taking over the alerts of processes that died --------------------------------------

    def sweep_if_due(self, now: datetime, jobs_by_id: Callable[[list[ObjectId]], list[Job]]) -> int:
        """From the poller: every ``SWEEP_EVERY``, ``sweep``."""
        if self._next_sweep is not None and now < self._next_sweep:
            return 0
        self._next_sweep = now + SWEEP_EVERY
        return self.sweep(jobs_by_id)

    def sweep(self, jobs_by_id: Callable[[list[ObjectId]], list[Job]]) -> int:
        """Take over pending alerts whose holder's lease ran out; returns how many.
        ``jobs_by_id`` reads the jobs (for their ``alertEndpoint``)."""
        now = self.clock.now()
        room = ALERT_QUEUE_LIMIT - self._held  # take over no more than can be held
        stale = self.dead_letters.stale_alerts(now, min(SWEEP_LIMIT, room)) if room > 0 else []
        if not stale:
            return 0
        jobs = jobs_by_id(list({dead_letter.job_id for dead_letter in stale}))
        endpoints = {job.id: job.alert_endpoint for job in jobs}
        taken = 0
        for dead_letter in stale:
            if dead_letter.id in self._holding:  # waiting here: renewed before it is sent
                continue
            if self.dead_letters.claim_alert(dead_letter.id, dead_letter.alert, self.owner,
                                             now + self.lease):  # fmt: skip
                taken += 1
                targets = self.targets(endpoints.get(dead_letter.job_id))
                if targets:
                    self.submit(dead_letter, targets)
                else:  # the job and the global URL are gone: nothing to send to
                    self.dead_letters.finish_alert(dead_letter.id, self.owner,
                                                   AlertState.UNDELIVERABLE, 0)  # fmt: skip
        return taken

    # -- the sender threads -----------------------------------------------------------------

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop sending; alerts not sent are taken over by another process after the lease."""
        self._stopping.set()
        with self._lock:
            threads = list(self._threads)
        for _ in threads:  # wakes each idle sender; a busy one sees _stopping
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout_s / len(threads))

    def _ensure_threads(self) -> None:
        with self._lock:
            while len(self._threads) < ALERT_SENDERS:
                thread = threading.Thread(target=self._loop, daemon=True,
                                          name=f"alerts-{len(self._threads)}")
                thread.start()
                self._threads.append(thread)

    def _loop(self) -> None:
        session = self._session_factory()
        while True:
            item = self._queue.get()
            if item is None or self._stopping.is_set():
                return
            if not self._take(item):  # parked: the endpoint's sender sends it
                continue
            next_item: _Item | None = item
            while next_item is not None and not self._stopping.is_set():
                if self._still_held(next_item[0]):
                    self._send_logged(*next_item, session)
                next_item = self._done(next_item)

    def _take(self, item: _Item) -> bool:
        """Mark the item's endpoint busy, or park the item behind the sender that has it."""
        endpoint = _endpoint(item[1])
        with self._lock:
            if endpoint in self._busy:
                self._parked.setdefault(endpoint, deque()).append(item)
                return False
            self._busy.add(endpoint)
            return True

    def _still_held(self, dead_letter: DeadLetter) -> bool:
        """Renew the lease of an alert that waited past the margin a send needs; False if
        another process took it over meanwhile (or the database could not say)."""
        now, until = self.clock.now(), dead_letter.alert.until
        send_time = self.lease - timedelta(milliseconds=self.config.job_lease_timeout_ms)
        if until is not None and until - now >= send_time:
            return True
        try:
            return self.dead_letters.renew_alert(dead_letter.id, self.owner, now + self.lease)
        except PyMongoError as exc:  # left pending: taken over after its lease
            metrics.record_database_error("runner")
            log.warning("could not renew the alert of dead letter %s: %s", dead_letter.id, exc)
            return False

    def _done(self, item: _Item) -> _Item | None:
        """One alert done: the next one parked behind its endpoint, or free the endpoint."""
        endpoint = _endpoint(item[1])
        with self._lock:
            self._held -= 1
            self._holding.discard(item[0].id)
            parked = self._parked.get(endpoint)
            if parked:
                return parked.popleft()
            self._parked.pop(endpoint, None)
            self._busy.discard(endpoint)
            return None

    def _send_logged(self, dead_letter: DeadLetter, targets: tuple[str, ...],
                     session: Any) -> None:  # fmt: skip
        try:
            self.send(dead_letter, targets, session)
        except PyMongoError as exc:  # the alert stays pending: taken over after its lease
            metrics.record_database_error("runner")
            log.warning("could not record the alert of dead letter %s: %s",
                        dead_letter.id, exc)  # fmt: skip
        except Exception:
            log.exception("unexpected error while alerting dead letter %s", dead_letter.id)

    def send(self, dead_letter: DeadLetter, targets: tuple[str, ...], session: Any) -> bool:
        """Deliver to every target (each tried ``ALERT_TRIES`` times), then record the
        outcome. True if every target took it."""
        payload = alert_payload(dead_letter)
        tries, delivered = 0, True
        for url in targets:
            used, ok = self._deliver(url, payload, str(dead_letter.id), session)
            tries += used
            delivered = delivered and ok
        state = AlertState.SENT if delivered else AlertState.UNDELIVERABLE
        metrics.record_alert(state.value)
        self.dead_letters.finish_alert(dead_letter.id, self.owner, state, tries)
        return delivered

    def _deliver(self, url: str, payload: dict[str, Any], key: str,
                 session: Any) -> tuple[int, bool]:  # fmt: skip
        request = AttemptRequest(
            url=url, method="POST", body=payload,
            headers={"Idempotency-Key": key, "X-Scheduler-Event": EVENT},
            timeout_s=self.config.job_timeout_ms / 1000, max_response_bytes=RESPONSE_LIMIT,
            allow_private=self.config.allow_private_targets,
        )  # fmt: skip
        for number in range(1, ALERT_TRIES + 1):
            outcome = perform(request, session)
            if outcome.success:
                return number, True
            if not outcome.retryable or number == ALERT_TRIES:
                log.error("alert for dead letter %s undeliverable after %d tries: %s",
                          key, number, redact_urls(outcome.error_message))  # fmt: skip
                return number, False
            if self._stopping.wait(ALERT_BACKOFF_S[number - 1]):
                return number, False
        return ALERT_TRIES, False
