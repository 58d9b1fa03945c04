"""Document writes per execution, counted from the scheduler's own client on the wire
server (``scheduler/releases.py``: a settled tick's release goes with the job's next claim)."""

from __future__ import annotations

import pytest

from scheduler_service import create_app, open_runtime
from scheduler_service.config import Config
from scheduler_service.runtime import get_runtime
from tests.support.document_writes import counted_scheduler
from tests.support.http_target import HttpTarget
from tests.support.in_process import create_job
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

JOBS = 10


def test_a_process_that_is_behind_still_folds_each_release_into_the_jobs_next_claim(
    wire_uri: str, target: HttpTarget
) -> None:
    """Ten every-second jobs, one worker, a target that takes 0.3 s: the process runs about
    three ticks a second, so each job's next claim comes two seconds or more after its time
    (its missed ticks coalesced). The settled tick's release still waits for that claim:
    one write to the job per execution, not two (the claim, then the release). Counted
    once the process is behind (its first round of holds is the usual two intervals)."""
    config = Config(mongodb_uri=wire_uri, allow_private_targets=True, rate_limit="off",
                    scheduler_poll_interval_ms=500, max_concurrent_jobs=1)  # fmt: skip
    app = create_app(open_runtime(config))
    writes, client, scheduler = counted_scheduler(config)
    api = app.test_client()
    executions = get_runtime(app).database.job_executions
    for i in range(JOBS):
        target.respond(f"/slow{i}", delay_s=0.3)
        create_job(api, schedule="* * * * * *", endpoint=target.url(f"/slow{i}"),
                   retryAttempts=0)  # fmt: skip
    try:
        scheduler.start()
        wait_until(lambda: executions.count_documents({}) >= 2 * JOBS, timeout_s=60)
        with writes.lock:
            before, claimed = executions.count_documents({}), writes.written["jobs"]
        wait_until(lambda: executions.count_documents({}) >= before + 3 * JOBS, timeout_s=60)
        with writes.lock:
            executed, claimed = executions.count_documents({}) - before, \
                writes.written["jobs"] - claimed  # fmt: skip
    finally:
        scheduler.stop()
        client.close()
        get_runtime(app).close()
    # One write to the job per execution (a claim that also releases the job's tick
    # before), give or take the one attempt in flight at either end of the window.
    # Released on their own, it was about two.
    assert claimed <= executed + 2, (claimed, executed)
