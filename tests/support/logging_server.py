"""The asyncio HTTP/1.1 server under the logging targets that run in processes of their own
(``tests.support.recording_target``, ``tests.chaos.target``): keep-alive, a listen backlog
of 1024 (a burst of connections is never dropped), and one line a request in a log file,
written before the answer is sent. What each target answers and logs is its ``Respond``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

# (path, lower-cased headers, unix time the request's head arrived) -> (status, log line)
Respond = Callable[[str, dict[str, str], float], Awaitable[tuple[int, str]]]

_REASONS = {200: "OK", 500: "Internal Server Error"}


def serve(port: int, out: Path, respond: Respond) -> None:
    """Serve on 127.0.0.1:``port``, appending to ``out``, until SIGTERM or SIGINT."""
    asyncio.run(_serve(port, out, respond))


async def _serve(port: int, out: Path, respond: Respond) -> None:
    loop = asyncio.get_running_loop()
    with out.open("a", buffering=1) as log:  # line-buffered: readers see whole lines
        server = await asyncio.start_server(
            lambda r, w: _connection(r, w, log, respond), "127.0.0.1", port, backlog=1024
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()


async def _connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: IO[str], respond: Respond
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            received = time.time()
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1] if " " in lines[0] else "/"
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            if length := int(headers.get("content-length") or 0):
                await reader.readexactly(length)
            status, entry = await respond(path, headers, received)
            body = b"ok" if status == 200 else b"no"
            log.write(entry + "\n")
            writer.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d"
                b"\r\n\r\n%s" % (status, _REASONS[status].encode(), len(body), body)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()
