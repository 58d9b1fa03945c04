"""A real HTTP server on 127.0.0.1 that records what it receives and answers as programmed.

    with HttpTarget() as target:
        target.respond_sequence("/hook", [500, 200])
        ...  # point a job at target.url("/hook")
        first, second = target.wait_for_requests("/hook", 2, timeout_s=5)

Behaviours are set per path (the query string is ignored for matching); unknown paths
answer 200 ``ok``. ``stop()`` cuts every hang and drip short, so it never waits on them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # original names; use header() for a case-insensitive lookup
    body: bytes
    received_at: datetime  # aware UTC
    monotonic: float  # time.monotonic() on arrival, for measuring gaps

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body)."""
        return json.loads(self.body) if self.body else None


@dataclass
class _Behaviour:
    statuses: list[int] = field(default_factory=lambda: [200])
    body: bytes = b"ok"
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    drip: tuple[int, float] | None = None  # (total bytes, seconds between bytes)
    served: int = 0


class HttpTarget:
    def __init__(self) -> None:
        self._requests: list[ReceivedRequest] = []
        self._behaviours: dict[str, _Behaviour] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> HttpTarget:
        server = _Server(("127.0.0.1", 0), _handler_class(self))
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="http-target", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> HttpTarget:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "HttpTarget is not started"
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # programming

    def respond(self, path: str, status: int = 200, body: bytes | str = b"ok",
                delay_s: float = 0.0, headers: Mapping[str, str] | None = None) -> None:
        self._set(path, _Behaviour([status], _bytes(body), delay_s, dict(headers or {})))

    def respond_sequence(self, path: str, statuses: list[int], body: bytes | str = b"ok") -> None:
        """One status per successive request; the last one repeats."""
        assert statuses, "respond_sequence needs at least one status"
        self._set(path, _Behaviour(list(statuses), _bytes(body)))

    def hang(self, path: str, seconds: float) -> None:
        """Wait ``seconds`` before answering 200 ``ok`` (less if the target stops)."""
        self._set(path, _Behaviour(delay_s=seconds))

    def drip(self, path: str, total_bytes: int, interval_s: float) -> None:
        """Send 200 headers at once, then the body one byte per ``interval_s``."""
        self._set(path, _Behaviour(drip=(total_bytes, interval_s)))

    def large(self, path: str, nbytes: int) -> None:
        self._set(path, _Behaviour(body=b"x" * nbytes))

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self._set(path, _Behaviour([status], b"", headers={"Location": location}))

    def _set(self, path: str, behaviour: _Behaviour) -> None:
        with self._changed:
            self._behaviours[path] = behaviour

    # inspection

    def requests_for(self, path: str) -> list[ReceivedRequest]:
        with self._changed:
            return [r for r in self._requests if r.path == path]

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._changed:
            return list(self._requests)

    def wait_for_requests(
        self, path: str, count: int, timeout_s: float = 10
    ) -> list[ReceivedRequest]:
        """Block until ``count`` requests to ``path`` arrived; return all of them so far."""
        with self._changed:
            if self._changed.wait_for(lambda: len(self._matching(path)) >= count, timeout_s):
                return self._matching(path)
            seen = sorted({r.path for r in self._requests})
            raise AssertionError(f"expected {count} request(s) to {path} within {timeout_s} s, "
                                 f"got {len(self._matching(path))}; paths seen: {seen}")

    def _matching(self, path: str) -> list[ReceivedRequest]:
        return [r for r in self._requests if r.path == path]

    # used by the handler

    def _record(self, request: ReceivedRequest) -> tuple[_Behaviour, int]:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            behaviour = self._behaviours.get(request.path) or _Behaviour()
            status = behaviour.statuses[min(behaviour.served, len(behaviour.statuses) - 1)]
            behaviour.served += 1
            return behaviour, status


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # stop() never waits on a handler; hangs and drips end on their own

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # a client that went away mid-request: expected in these tests
        super().handle_error(request, client_address)


def _bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _handler_class(target: HttpTarget) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = target
    return Handler


class _Handler(BaseHTTPRequestHandler):
    owner: HttpTarget
    timeout = 30  # a client that stops sending mid-request does not hold a thread forever
    disable_nagle_algorithm = True  # answers are not held back waiting for an ACK

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        received = ReceivedRequest(
            method=self.command, path=parts.path, query=parts.query,
            headers=dict(self.headers.items()), body=self._read_body(),
            received_at=datetime.now(UTC), monotonic=time.monotonic(),
        )
        behaviour, status = self.owner._record(received)
        stopping = self.owner._stopping
        if behaviour.delay_s and stopping.wait(behaviour.delay_s):
            return  # stopping: close without answering
        try:
            if behaviour.drip is not None:
                self._drip(*behaviour.drip, stopping)
            else:
                self._answer(status, behaviour)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (deadline, size cap): expected

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return b"".join(self._chunks())
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _chunks(self) -> Iterator[bytes]:
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            yield self.rfile.read(size)
            self.rfile.readline()
        while self.rfile.readline().strip():  # trailers
            pass

    def _answer(self, status: int, behaviour: _Behaviour) -> None:
        body = b"" if status in (204, 304) or status < 200 else behaviour.body
        self.send_response(status)
        for name, value in behaviour.headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-type" for name in behaviour.headers):
            self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, total_bytes: int, interval_s: float, stopping: threading.Event) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(total_bytes))
        self.end_headers()
        self.wfile.flush()
        for _ in range(total_bytes):
            if stopping.wait(interval_s):
                return
            self.wfile.write(b".")
            self.wfile.flush()


def http_target_fixture() -> Iterator[HttpTarget]:
    """Body of a pytest fixture: ``target = pytest.fixture(http_target_fixture)``."""
    with HttpTarget() as target:
        yield target
