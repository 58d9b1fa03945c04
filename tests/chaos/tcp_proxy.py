"""A TCP proxy on 127.0.0.1 between one service process and the database, with faults.

    proxy = FaultyProxy(upstream_port)   # listens on proxy.port
    proxy.latency(0.2)                   # each chunk forwarded 200 ms late
    proxy.reset()                        # every open connection reset (RST), new ones pass
    proxy.blackhole()                    # nothing flows either way, connections stay open
    proxy.heal()                         # back to a plain pipe (held bytes then flow)
    proxy.close()

An asyncio loop in a daemon thread; all control calls are thread-safe. A black hole holds
bytes instead of dropping them, as TCP does with its retransmissions: a client that gave
up on a request has closed its socket by the time the network heals.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any

CHUNK = 65536


class FaultyProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._delay = 0.0
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.port = self._call(self._start())

    # -- control (any thread) ----------------------------------------------------------

    def latency(self, seconds: float) -> None:
        self._call(self._set(delay=seconds, flowing=True))

    def blackhole(self) -> None:
        self._call(self._set(delay=self._delay, flowing=False))

    def heal(self) -> None:
        self._call(self._set(delay=0.0, flowing=True))

    def reset(self) -> int:
        """Reset every open connection; returns how many sockets were reset."""
        return int(self._call(self._reset()))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    # -- inside the loop ---------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._flowing.set()
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _set(self, *, delay: float, flowing: bool) -> None:
        self._delay = delay
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _shutdown(self) -> None:
        self._server.close()
        self._flowing.set()
        await self._reset()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _reset(self) -> int:
        writers = list(self._writers)
        for writer in writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close() sends RST
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._writers.clear()
        return len(writers)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except (OSError, asyncio.CancelledError):
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for end in (writer, up_writer):
            self._writers.discard(end)
            end.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while chunk := await reader.read(CHUNK):
                await self._flowing.wait()
                if self._delay:
                    await asyncio.sleep(self._delay)
                await self._flowing.wait()
                writer.write(chunk)
                await writer.drain()
