"""Alerts: ``{"type": "tick.dead_lettered", "deadLetter": {...}}`` POSTed to
``ALERT_WEBHOOK_URL`` and to the job's ``alertEndpoint`` when a tick is dead-lettered.

Once per dead letter, however many processes run: the process whose write created the dead
letter holds its alert (``alert.state = pending``, with an owner and a lease in the
document, written in that same insert) and sends it from a thread of its own, so a worker
never waits for an alert. If that process dies first, another one takes the alert over
with a compare-and-set once the lease has run out (``sweep``, from the poller). An alert
goes out under the same SSRF protection and timeout as a job's request, is tried
``ALERT_TRIES`` times with backoff, and then recorded as ``sent`` or ``undeliverable``
(logged and counted): it is never dead-lettered itself. Should a process die after
sending and before recording that, the alert is sent again; receivers can tell by its
``deadLetterId``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import PyMongoError

from scheduler_service import metrics
from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.dead_letter import Alert, AlertState, DeadLetter
from scheduler_service.delivery.attempt import AttemptRequest, perform
from scheduler_service.delivery.redaction import redact_urls
from scheduler_service.delivery.session import new_session as default_session
from scheduler_service.records import Job
from scheduler_service.schemas.dead_letters import DeadLetterResponseSchema
from scheduler_service.stores.dead_letters import DeadLetterStore

log = logging.getLogger(__name__)

EVENT = "tick.dead_lettered"
ALERT_TRIES = 3
ALERT_BACKOFF_S = (1.0, 4.0)  # waits between the tries
RESPONSE_LIMIT = 1024  # bytes of an alert's answer read (and not kept)
SWEEP_LIMIT = 100
SWEEP_EVERY = timedelta(seconds=10)  # how often the poller looks for alerts left behind

_view = DeadLetterResponseSchema()


def alert_payload(dead_letter: DeadLetter) -> dict[str, Any]:
    """The alert's body: the dead letter as the API shows it."""
    return {"type": EVENT, "deadLetter": _view.dump(dead_letter)}


class AlertSender:
    def __init__(
        self, dead_letters: DeadLetterStore, config: Config, clock: Clock, owner: str,
        *, session_factory: Callable[[], Any] = default_session,
    ) -> None:  # fmt: skip
        self.dead_letters = dead_letters
        self.config = config
        self.clock = clock
        self.owner = owner
        self._session_factory = session_factory
        self._queue: queue.Queue[tuple[DeadLetter, tuple[str, ...]] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sweep: datetime | None = None

    # -- what settlement asks ---------------------------------------------------------------

    def targets(self, alert_endpoint: str | None) -> tuple[str, ...]:
        """Where a dead letter of a job with this ``alertEndpoint`` is announced."""
        urls = (self.config.alert_webhook_url, alert_endpoint)
        return tuple(dict.fromkeys(url for url in urls if url))

    def new_alert(self, targets: tuple[str, ...], now: datetime) -> Alert:
        """The alert a new dead letter starts with: held by this process, if it has targets."""
        if not targets:
            return Alert()
        return Alert(AlertState.PENDING, self.owner, now + self.lease)

    def submit(self, dead_letter: DeadLetter, targets: tuple[str, ...]) -> None:
        """Send the alert of a dead letter this process holds, from the sender's thread."""
        if targets and not self._stopping.is_set():
            self._ensure_thread()
            self._queue.put((dead_letter, targets))

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
        stale = self.dead_letters.stale_alerts(now, SWEEP_LIMIT)
        if not stale:
            return 0
        jobs = jobs_by_id(list({dead_letter.job_id for dead_letter in stale}))
        endpoints = {job.id: job.alert_endpoint for job in jobs}
        taken = 0
        for dead_letter in stale:
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

    # -- the sender's thread ----------------------------------------------------------------

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop sending; alerts not sent are taken over by another process after the lease."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        session = self._session_factory()
        while True:
            item = self._queue.get()
            if item is None or self._stopping.is_set():
                return
            dead_letter, targets = item
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
