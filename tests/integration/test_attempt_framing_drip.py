"""A target that drips what http.client reads on its own (status line and headers, a chunk's
size line, a chunked body's trailer) is cut at the attempt's total deadline like one that
drips its body (``delivery/deadline_watch.py``). Raw sockets on 127.0.0.1: an http.server
target cannot write a response a byte at a time in those places."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.support.attempts import attempt

DRIP_S = 8.0  # how long each target keeps dripping: far past the attempt's 1 s


def _serve(head: bytes, unit: bytes, stop: threading.Event) -> tuple[socket.socket, int]:
    listener = socket.create_server(("127.0.0.1", 0))

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                received = b""
                while b"\r\n\r\n" not in received:
                    data = conn.recv(65536)
                    if not data:
                        return
                    received += data
                conn.sendall(head)
                ends = time.monotonic() + DRIP_S
                while time.monotonic() < ends and not stop.wait(0.2):
                    conn.sendall(unit)
            except OSError:  # the attempt hung up: what it should do at its deadline
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener, listener.getsockname()[1]


@pytest.fixture
def dripping() -> Iterator[Callable[[bytes, bytes], str]]:
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(head: bytes, unit: bytes) -> str:
        listener, port = _serve(head, unit, stop)
        listeners.append(listener)
        return f"http://127.0.0.1:{port}/"

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(("head", "unit"), [
    (CHUNKED + b"1\r\nx\r\n0\r\n", b"X-Trailer: t\r\n"),  # trailer lines, no end
    (CHUNKED + b"1;", b"e"),  # a chunk extension, a byte at a time
    (b"HTTP/1.1 200 OK\r\n", b"X-Header: h\r\n"),  # header lines, no end
], ids=["trailer", "chunk-size-line", "headers"])  # fmt: skip
def test_dripped_framing_is_cut_at_the_total_deadline(
    dripping: Callable[[bytes, bytes], str], session: requests.Session, head: bytes, unit: bytes
) -> None:
    outcome = attempt(session, dripping(head, unit), timeout_s=1.0)
    assert not outcome.success and outcome.retryable
    assert outcome.error_message == "timeout: no complete response within 1000 ms"
    assert 1000 <= outcome.duration_ms < DRIP_S * 1000 / 2
