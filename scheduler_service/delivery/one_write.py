"""A request with a small body goes out in one write, not two.

http.client sends the request line and headers with one ``sendall``, then the body with
another. Each ``sendall`` gives up the GIL, and at light load, with twenty requests due in
the same millisecond, each thread that gives it up waits behind the others to take it back:
the body, and with it the whole request as the target sees it, went out one turn later
than its head. So a body of bytes up to ``ONE_WRITE_BYTES`` is sent with the head, in one
``sendall``: the same bytes, in the same order.

A request made ready ahead of its tick's time waits for that time just before its first
write (or connect): :func:`sends_due.hold`.
"""

from __future__ import annotations

from typing import Any

from scheduler_service.delivery import sends_due

ONE_WRITE_BYTES = 64 * 1024


class OneWrite:
    """Mixed into urllib3's connection classes, before them."""

    _held: list[bytes] | None = None

    def request(self, method: str, url: str, body: Any = None, headers: Any = None,
                *args: Any, **kwargs: Any) -> None:  # fmt: skip
        held: list[bytes] | None = None
        if (isinstance(body, bytes) and 0 < len(body) <= ONE_WRITE_BYTES
                and not kwargs.get("chunked")):  # fmt: skip
            held = self._held = []
        try:
            super().request(method, url, body, headers, *args, **kwargs)  # type: ignore[misc]
        finally:
            self._held = None
        if held:
            sends_due.hold()
            super().send(b"".join(held))  # type: ignore[misc]

    def send(self, data: Any) -> None:
        held = self._held
        if held is not None and isinstance(data, bytes):
            held.append(data)
            return
        sends_due.hold()  # the first write (or connect) of a request made ready ahead
        if held is not None:  # not bytes (never for a body of bytes): in order, as is
            self._held = None
            if held:
                super().send(b"".join(held))  # type: ignore[misc]
                held.clear()
        super().send(data)  # type: ignore[misc]
