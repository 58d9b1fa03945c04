"""The fast local HTTP target: an asyncio HTTP/1.1 server that answers every request 200 ``ok``.

Run in its own process by the bench (``python -m bench.target --port N``); it prints
``ready`` once listening. Keep-alive, no per-request allocation beyond the parse. A request
from the service carries ``X-Scheduler-Job-Id`` and ``X-Scheduler-Scheduled-At``: the target
keeps those with the time it read the request (its arrival). Control paths, not counted:
``GET /__count`` answers the number of requests served, ``GET /__records`` one line per
kept arrival (``<unix time> <job id> <scheduled at>``, lower-cased), ``GET /__reset``
sets the count back to zero and forgets the arrivals.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: keep-alive\r\n\r\nok"
)
_MAX_HEAD = 64 * 1024


class _State:
    served = 0
    arrivals: list[tuple[float, bytes, bytes]] = []


def _reply(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class _Http(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        close = len(self.buffer) > _MAX_HEAD and self.buffer.find(b"\r\n\r\n") < 0
        while not close:
            request = self._next_request()
            if request is None:
                break
            first_line, head = request
            out.append(_answer(first_line, head))
            close = b"\r\nconnection: close" in head
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if close and self.transport is not None:
            self.transport.close()

    def _next_request(self) -> tuple[bytes, bytes] | None:
        """Take one whole request off the buffer: (its request line, its lowered head)."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else None].strip() or 0)
        if len(self.buffer) < end + 4 + length:
            return None
        del self.buffer[: end + 4 + length]
        return head.split(b"\r\n", 1)[0], head


def _header(head: bytes, name: bytes) -> bytes | None:
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    stop = head.find(b"\r\n", start)
    return head[start : stop if stop >= 0 else None].strip()


def _answer(first_line: bytes, head: bytes) -> bytes:
    if b" /__count" in first_line:
        return _reply(str(_State.served).encode())
    if b" /__records" in first_line:
        return _reply(b"".join(b"%.6f %s %s\n" % arrival for arrival in _State.arrivals))
    if b" /__reset" in first_line:
        _State.served = 0
        _State.arrivals = []
        return _reply(b"0")
    _State.served += 1
    scheduled = _header(head, b"x-scheduler-scheduled-at")
    if scheduled is not None:
        job_id = _header(head, b"x-scheduler-job-id") or b"-"
        _State.arrivals.append((time.time(), job_id, scheduled))
    return _OK


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, "127.0.0.1", port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
