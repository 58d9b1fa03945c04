"""A request with a small body goes out in one write (``delivery/one_write.py``): the same
bytes as http.client's two writes (head, then body), to a real target on 127.0.0.1."""

from __future__ import annotations

import http.client
from typing import Any

import pytest
import requests

from scheduler_service.delivery.one_write import ONE_WRITE_BYTES
from tests.support.attempts import attempt
from tests.support.http_target import HttpTarget


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every ``send`` of an http.client connection, in order."""
    sent: list[bytes] = []
    send = http.client.HTTPConnection.send

    def counted(self: Any, data: Any) -> None:
        sent.append(bytes(data))
        send(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", counted)
    return sent


@pytest.mark.parametrize("body", [{"a": "b"}, "x" * 5000])
def test_head_and_body_in_one_write(target: HttpTarget, session: requests.Session,
                                    writes: list[bytes], body: object) -> None:  # fmt: skip
    outcome = attempt(session, target.url("/one"), body=body, headers={"X-Tick": "1"})
    assert outcome.success
    [received] = target.wait_for_requests("/one", 1, timeout_s=10)
    [write] = writes
    head, sent_body = write.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /one HTTP/1.1\r\n")
    assert b"\r\nX-Tick: 1" in head and b"\r\nContent-Length: " in head
    assert sent_body == received.body
    assert received.header("X-Tick") == "1"


def test_a_large_body_goes_as_http_client_sends_it(target: HttpTarget,
                                                  session: requests.Session,
                                                  writes: list[bytes]) -> None:  # fmt: skip
    body = "y" * (ONE_WRITE_BYTES + 1)
    assert attempt(session, target.url("/large"), body=body).success
    [received] = target.wait_for_requests("/large", 1, timeout_s=10)
    assert len(writes) == 2 and writes[0].endswith(b"\r\n\r\n")
    assert writes[1] == received.body


def test_no_body_is_one_write(target: HttpTarget, session: requests.Session,
                              writes: list[bytes]) -> None:  # fmt: skip
    assert attempt(session, target.url("/none"), method="GET").success
    target.wait_for_requests("/none", 1, timeout_s=10)
    assert len(writes) == 1
