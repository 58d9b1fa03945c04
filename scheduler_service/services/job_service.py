"""Job rules shared by the API and the CLI: validation, defaults, next tick, cancellation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from scheduler_service.clock import Clock
from scheduler_service.config import Config
from scheduler_service.crypto import HeaderCipher
from scheduler_service.delivery.masking import has_url_secrets, mask_url
from scheduler_service.errors import Conflict, JobNotFound
from scheduler_service.records import Entry, ExecutionRecord, Job, search_text
from scheduler_service.schemas import JobCreateSchema, JobUpdateSchema
from scheduler_service.services import job_checks, job_cursor
from scheduler_service.services.chain_rules import FIELDS as CHAIN_FIELDS
from scheduler_service.services.chain_rules import check_links
from scheduler_service.services.job_timing import (
    TIMING_FIELDS,
    check_merged,
    default_name,
    next_run,
)
from scheduler_service.stores.chain_lock import ChainLock
from scheduler_service.stores.chains import ChainStore
from scheduler_service.stores.executions import ExecutionStore
from scheduler_service.stores.jobs import JobFilter, JobStore
from scheduler_service.stores.ticks import EPOCH

# Manual runs of one job not yet finished (queued, running or waiting to retry); one more
# is a 409 CONFLICT. Each is an entry in the job document: without a cap, repeated
# POST /run calls would grow it (and the work queued) without end.
MAX_MANUAL_RUNS_IN_FLIGHT = 10
# An update that changes ``enabled`` or ``tags`` holds only on the job as read (the counts
# move by the change); a job changed meanwhile is read again, this many times at most.
UPDATE_TRIES = 5
# One instance each, shared by every request: building a schema deep-copies its fields
# (about 0.5 ms for the create's, as much as the load itself); ``load`` changes no state
# of the instance (marshmallow 4 has no context), so threads may share them.
_CREATE = JobCreateSchema()
_UPDATE = JobUpdateSchema()


@dataclass(frozen=True)
class ListedPage:
    jobs: list[dict[str, Any]]  # readable (``_readable``)
    page: int
    total: int
    total_exact: bool
    complete: bool  # False: the scan budget ran out before the page was full
    next_cursor: str | None


def parse_job_id(job_id: str) -> ObjectId:
    """A 24-hex-digit ObjectId; anything else is a job that does not exist (404)."""
    if not isinstance(job_id, str) or len(job_id) != 24:
        raise JobNotFound(str(job_id))
    try:
        return ObjectId(job_id)
    except (InvalidId, TypeError):
        raise JobNotFound(job_id) from None


class JobService:
    def __init__(
        self,
        jobs: JobStore,
        executions: ExecutionStore,
        config: Config,
        clock: Clock,
        *,
        chains: ChainStore,  # the API's: its writes (``forget``) as journaled as the jobs'
        chain_lock: ChainLock,  # ``ChainLock.for_requests``
        cipher: HeaderCipher | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.jobs = jobs
        self.executions = executions
        self.config = config
        self.clock = clock
        self.on_change = on_change  # wakes this process's scheduler so a near tick is not late
        self.cipher = cipher or HeaderCipher(config.encryption_keys)
        self.chains = chains
        self.chain_lock = chain_lock

    def create(self, payload: Any, *, allow_past: bool = False) -> dict[str, Any]:
        fields = job_checks.load(_CREATE, payload, self.config)
        job_checks.check(fields, self.config)
        fields.setdefault("retryAttempts", self.config.job_retry_attempts)
        fields.setdefault("retryDelay", self.config.job_retry_delay_ms)
        fields.setdefault("retryDelayMax", self.config.job_retry_delay_max_ms)
        fields.setdefault("timeoutMs", self.config.job_timeout_ms)
        fields.setdefault("name", default_name(fields["method"], fields["endpoint"]))
        with self.chain_lock.for_lists(fields):  # its ids name jobs until it is written
            return self._create(fields, allow_past)

    def _create(self, fields: dict[str, Any], allow_past: bool) -> dict[str, Any]:
        job_id = ObjectId()
        # A new id: nothing chains to it yet, so no cycle; its ids must name jobs.
        check_links(job_id, {name: tuple(fields.get(name, ())) for name in CHAIN_FIELDS},
                    self.chains.links, cycles=False)  # fmt: skip
        now = self.clock.now()
        plain_endpoint = fields["endpoint"]
        fields["endpoint"] = self.cipher.seal_url(plain_endpoint)
        fields["signingSecret"] = self.cipher.seal_secret(fields.get("signingSecret"))
        fields["alertEndpoint"] = self.cipher.seal_secret(fields.get("alertEndpoint"))
        job = Job.new(fields, now=now, next_run_at=None,
                      headers=self.cipher.seal(fields["headers"]),
                      id=job_id,  # its id is part of its jitter
                      search=search_text(fields["name"], plain_endpoint))  # fmt: skip
        timing = next_run(job, now, allow_past=allow_past, check_past=True)
        job = replace(job, next_run_at=timing["nextRunAt"], next_tick_at=timing["nextTickAt"])
        created = self.jobs.add(job)
        self.on_change()
        return self._readable(created)

    def _readable(self, job: Job) -> dict[str, Any]:
        """The job's document with header values and endpoints decrypted (responses then
        mask their secrets), and the defaults of fields that jobs of earlier versions lack."""
        document = {**job.to_document(), "headers": self.cipher.open_for_display(job.headers),
                    "endpoint": self.cipher.open_url_for_display(job.endpoint),
                    "alertEndpoint": self.cipher.open_secret_for_display(job.alert_endpoint)}
        if document["retryDelayMax"] is None:
            document["retryDelayMax"] = self.config.job_retry_delay_max_ms
        if document["timeoutMs"] is None:
            document["timeoutMs"] = self.config.job_timeout_ms
        return document

    def get(self, job_id: str) -> dict[str, Any]:
        document = self.jobs.get(parse_job_id(job_id))
        if document is None:
            raise JobNotFound(job_id)
        return self._readable(document)

    def page(self, page: int, limit: int, selection: JobFilter | None = None,
             cursor: str | None = None) -> ListedPage:  # fmt: skip
        """Page ``page`` of the jobs ``selection`` selects, or the page ``cursor`` (a
        ``nextCursor`` of the same query) leads to."""
        selection = selection or JobFilter()
        after = None
        if cursor is not None:
            after, page = job_cursor.decode(selection, cursor)
        found = self.jobs.page(limit, selection, now=self.clock.now(), page=page, after=after)
        next_cursor = None
        if found.after is not None:
            next_cursor = job_cursor.encode(selection, found.after, page + 1)
        return ListedPage([self._readable(job) for job in found.jobs], page, found.total,
                          found.total_exact, found.complete, next_cursor)  # fmt: skip

    def update(self, job_id: str, payload: Any, *, allow_past: bool = False) -> dict[str, Any]:
        """Partial update. A change of schedule, runAt, time zone, jitter or window, or
        re-enabling, recomputes ``nextRunAt``; disabling clears it and cancels waiting
        retries and manual runs."""
        oid = parse_job_id(job_id)
        changes = job_checks.load(_UPDATE, payload, self.config)
        job_checks.check(changes, self.config)
        with self.chain_lock.for_lists(changes):
            for _ in range(UPDATE_TRIES):
                current = self.jobs.get(oid)
                if current is None:
                    raise JobNotFound(job_id)
                written = self._apply(oid, current, dict(changes), allow_past)
                if written is not None:
                    self.on_change()
                    return self._readable(written)
        raise Conflict(f"Job {job_id} kept changing meanwhile; try again", {})

    def _apply(self, oid: ObjectId, current: Job, changes: dict[str, Any],
               allow_past: bool) -> Job | None:  # fmt: skip
        """Write ``changes`` to the job as ``current``; None if it changed meanwhile."""
        merged = {**current.to_document(), **changes}
        check_merged(merged)
        if any(name in changes for name in CHAIN_FIELDS):
            lists = {name: tuple(merged.get(name) or ()) for name in CHAIN_FIELDS}
            check_links(oid, lists, self.chains.links)
        now = self.clock.now()
        enabled = changes.get("enabled", current.enabled)
        if not enabled or TIMING_FIELDS & set(changes) or not current.enabled:
            changes.update(next_run(Job.from_document(merged), now, allow_past=allow_past,
                                    check_past="runAt" in changes or not current.enabled))
        if "name" in changes or "endpoint" in changes:
            plain = changes.get("endpoint") or self.cipher.open_url_for_display(current.endpoint)
            changes["searchText"] = search_text(merged["name"], plain)
        changes["updatedAt"] = now
        if "headers" in changes:
            changes["headers"] = self.cipher.seal(changes["headers"])
        if "signingSecret" in changes:
            changes["signingSecret"] = self.cipher.seal_secret(changes["signingSecret"])
        if "endpoint" in changes:
            changes["endpoint"] = self._url_to_store(changes["endpoint"], current.endpoint,
                                                     self.cipher.seal_url)  # fmt: skip
        if "alertEndpoint" in changes:
            changes["alertEndpoint"] = self._url_to_store(
                changes["alertEndpoint"], current.alert_endpoint, self.cipher.seal_secret)
        return self.jobs.update(oid, changes, cancel_waiting=not enabled, seen=current)

    def _url_to_store(self, given: str | None, stored: str | None,
                      seal: Callable[[str], str | None]) -> str | None:  # fmt: skip
        """An endpoint exactly as a response showed it (masked: a client that read the job
        and sends it back) leaves the stored one as it is."""
        if given is None:
            return None
        if stored is not None and has_url_secrets(given) and given == mask_url(
                self.cipher.open_url_for_display(stored)):  # fmt: skip
            return stored
        return seal(given)

    def reencrypt(self) -> int:
        """Seal every job's header values, secret-bearing endpoint, signing secret and alert
        endpoint with the first ``ENCRYPTION_KEY`` (key rotation, or encrypting jobs stored
        before encryption was turned on); returns jobs changed."""
        changed = 0
        cipher = self.cipher
        for job_id, stored in self.jobs.all_secrets():
            headers, endpoint = stored["headers"], stored["endpoint"]
            rotated = {"headers": None if headers is None else cipher.rotate(headers),
                       "endpoint": None if endpoint is None else cipher.rotate_url(endpoint),
                       "signingSecret": cipher.rotate_secret(stored["signingSecret"]),
                       "alertEndpoint": cipher.rotate_secret(stored["alertEndpoint"])}
            new = {name: value for name, value in rotated.items() if value != stored[name]}
            if new and self.jobs.replace_secrets(job_id, stored, new):
                changed += 1
        return changed

    def delete(self, job_id: str) -> None:
        """Deleting the document cancels its waiting ticks too; history stays for audit. The
        job is then removed from every other job's ``onSuccess``/``onFailure``."""
        oid = parse_job_id(job_id)
        if not self.jobs.delete(oid):
            raise JobNotFound(job_id)
        try:  # after a create or change naming it that checked before the delete
            with self.chain_lock.held():
                self.chains.forget(oid, self.clock.now())
        except Conflict:  # the lease is not to be had: remove it anyway
            self.chains.forget(oid, self.clock.now())

    def list_executions(self, job_id: str, limit: int) -> list[ExecutionRecord]:
        """The job's attempts, newest first: the records, and the attempts in flight
        (``running``, from the job's entries: they are recorded when they end)."""
        oid = parse_job_id(job_id)
        job = self.jobs.get(oid)
        if job is None:
            raise JobNotFound(job_id)
        recorded = self.executions.for_job(oid, limit)
        seen = {record.id for record in recorded}
        running = [ExecutionRecord.running(oid, entry) for entry in job.inflight
                   if entry.is_running]  # fmt: skip
        attempts = recorded + [record for record in running if record.id not in seen]
        attempts.sort(key=lambda record: (record.started_at or EPOCH, record.id), reverse=True)
        return attempts[:limit]

    def run_now(self, job_id: str) -> datetime:
        """Queue one tick due now, whatever the schedule and ``enabled`` say."""
        oid = parse_job_id(job_id)
        now = self.clock.now()
        queued = self.jobs.add_manual_tick(oid, Entry.manual(now), MAX_MANUAL_RUNS_IN_FLIGHT)
        if queued is None:
            raise JobNotFound(job_id)
        if not queued:
            raise Conflict(
                f"Job {job_id} already has {MAX_MANUAL_RUNS_IN_FLIGHT} manual runs queued or "
                "running; try again when one has finished",
                {"maxManualRuns": MAX_MANUAL_RUNS_IN_FLIGHT},
            )
        self.on_change()
        return now
