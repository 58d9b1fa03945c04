"""A request made ready ahead of its time waits for that time just before its first write
(``delivery/sends_due.hold``, called by ``delivery/one_write.py``): the target never reads
it before, whatever its body; and the attempt's duration counts from that time."""

from __future__ import annotations

import time

import pytest
import requests

from scheduler_service.delivery import sends_due
from scheduler_service.delivery.one_write import ONE_WRITE_BYTES
from tests.support.attempts import attempt
from tests.support.http_target import HttpTarget


@pytest.mark.parametrize(("method", "body"), [("POST", {"a": 1}), ("GET", None),
                                              ("POST", "z" * (ONE_WRITE_BYTES + 1))])
def test_never_read_before_its_time(target: HttpTarget, session: requests.Session,
                                    method: str, body: object) -> None:  # fmt: skip
    due = time.time() + 0.3
    with sends_due.expecting(due):
        outcome = attempt(session, target.url("/held"), method=method, body=body)
        since_due_ms = (time.time() - due) * 1000
        released = sends_due.released()
    assert outcome.success
    [request] = target.wait_for_requests("/held", 1, timeout_s=10)
    assert request.received_at.timestamp() >= due
    assert released is not None
    assert outcome.duration_ms <= since_due_ms + 1  # counted from its time, not before


def test_not_expected_is_not_held(target: HttpTarget, session: requests.Session) -> None:
    assert attempt(session, target.url("/free")).success
    assert sends_due.released() is None
