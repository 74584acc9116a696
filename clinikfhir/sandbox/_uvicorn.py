"""uvicorn glue: an h11 protocol whose writes for one response leave in a single send.

uvicorn's h11 protocol writes the status line and headers, the body and the end of the message with
separate ``transport.write`` calls, i.e. separate ``send`` syscalls and loopback packets per
response. Buffering the writes of one event-loop step and flushing them together halves the
syscalls and wake-ups per request; on a busy 2-core machine that is a large share of a request's cost.
"""

from __future__ import annotations

import asyncio
from typing import Any


class _CoalescingTransport:
    """Wraps a transport: ``write`` buffers until the end of the current loop step, then one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(b) for b in self._buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol_class() -> type[asyncio.Protocol] | str:
    """The coalescing h11 protocol, or uvicorn's own choice when its h11 internals are not as expected."""
    try:
        from uvicorn.protocols.http.h11_impl import H11Protocol
    except ImportError:  # pragma: no cover - a uvicorn without the h11 implementation
        return "auto"

    class CoalescingH11Protocol(H11Protocol):  # type: ignore[misc, unused-ignore]
        """uvicorn's h11 protocol with one send per response."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override, unused-ignore]
            loop = asyncio.get_running_loop()
            super().connection_made(_CoalescingTransport(transport, loop))  # type: ignore[arg-type]

    return CoalescingH11Protocol
