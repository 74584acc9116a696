"""The ASGI front end: turns an HTTP request from uvicorn into a gateway :class:`Request`.

The gateway is synchronous (SQLite); each request runs on a bounded pool of worker threads
(:class:`._workers.Workers`), so the event loop keeps accepting and answering while one request is
slow, and one API key may hold at most half of the workers at once, so a tenant sending many slow
requests leaves the other half to everyone else.

``/health`` and the CapabilityStatement are answered on the loop itself (they touch no store). While
one connection alone is sending requests, a few more whose work is small and bounded are answered on
the loop too, sparing them the hop to a worker thread and back (most of a small request's cost over
HTTP): the read of one resource or one of its versions (one primary-key look-up in a read
transaction; in WAL mode a reader never waits for the writer), and small plain writes while the
workers are idle and the writer is free (see :func:`small_write`). With several connections active,
the workers answer everything else, overlapping one request's SQLite work with another's Python.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._gateway import MAX_BODY, Gateway
from ._http import Request, Response
from ._workers import DEFAULT_WORKERS, Workers

_LATENCY_STEP = 0.05  # injected latency is slept in steps, so turning it off releases waiting requests

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_LOOPBACK = ("127.", "::1", "::ffff:127.")


def on_the_loop(path: str) -> bool:
    """True for the GETs answered on the event loop: ``/health``, the CapabilityStatement, and
    ``/v1/fhir/[type]/[id]`` or ``/v1/fhir/[type]/[id]/_history/[vid]`` (no search, history or operation)."""
    if path in ("/health", "/v1/metadata", "/v1/fhir/metadata"):
        return True
    if not path.startswith("/v1/fhir/") or "%" in path:  # an escaped segment may hide "$" or "_"
        return False
    segs = path[9:].split("/")
    if len(segs) == 4 and segs[2] != "_history":
        return False
    if len(segs) not in (2, 4):
        return False
    return all(seg and not seg.startswith(("_", "$")) for seg in (segs[0], segs[1], *segs[3:]))


SOLO_STREAK = 4
"""Requests in a row over one connection after which small requests are answered on the loop."""
_NO_STORE = frozenset({"/health", "/v1/metadata", "/v1/fhir/metadata"})

SMALL_WRITE = 16 * 1024
"""The largest body of a write that may be answered on the event loop (see :func:`small_write`)."""


def small_write(request: Request) -> bool:
    """True for a write whose work is small and bounded: a plain create (``POST /v1/fhir/[type]``, no
    ``If-None-Exist``), an update or delete of one resource (``PUT``/``DELETE /v1/fhir/[type]/[id]``, not
    conditional), with no query and a body of at most :data:`SMALL_WRITE` bytes. (A PATCH is not: the
    resource it patches may be large; nor a Bundle, a search or a conditional write.)"""
    path = request.path
    if request.query or len(request.body) > SMALL_WRITE or not path.startswith("/v1/fhir/") or "%" in path:
        return False
    segs = path[9:].split("/")
    if not all(seg and not seg.startswith(("_", "$")) for seg in segs):
        return False
    if request.method == "POST":
        return len(segs) == 1 and "if-none-exist" not in request.headers
    return request.method in ("PUT", "DELETE") and len(segs) == 2


class ConnectionDropped(Exception):
    """Raised after a committed write to break the connection without an answer (fault injection)."""


class AsgiApp:
    """An ASGI 3 application serving the gateway."""

    def __init__(self, gateway: Gateway, *, workers: int = DEFAULT_WORKERS) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.gateway = gateway
        self._workers = Workers(workers)
        # the connection of the latest requests, and how many in a row came over it (see _solo)
        self._last_client: object = None
        self._streak = 0

    def close(self) -> None:
        """Stop the worker threads (after the requests they are running)."""
        self._workers.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        chunks: list[bytes] = []
        size = 0
        declared = headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > MAX_BODY
        if not too_big:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY:
                    too_big = True
                    break
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        body = b"\0" * (MAX_BODY + 1) if too_big else b"".join(chunks)
        raw_path: bytes | None = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else str(scope.get("path", "/"))
        path = path.split("?", 1)[0]
        client = scope.get("client")
        client_host = str(client[0]) if client else ""
        request = Request(
            method=str(scope["method"]),
            path=path,
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            headers=headers,
            body=body,
            loopback=client_host.startswith(_LOOPBACK) or client_host == "localhost",
            host=headers.get("host", "localhost"),
            scheme=str(scope.get("scheme", "http")),
        )
        solo = self._solo(client)
        response: Response | None = None
        if path in _NO_STORE or (solo and request.method == "GET" and on_the_loop(path)):
            response = self.gateway.handle(request)
        elif solo and small_write(request):
            response = self._small_write_now(request)
        if response is None:
            response = await self._workers.run(headers.get("x-api-key", ""), self.gateway.handle, request)
        await self._delay(response.delay)
        out_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        status = response.status
        length = len(response.body)
        if response.drop:
            # announce more body than is sent, so even a 204 is visibly cut off (a bodiless status would
            # be complete with its headers alone)
            status, length = (200 if status in (204, 304) else status), length + 1
        out_headers.append((b"content-length", str(length).encode("ascii")))
        if too_big:
            out_headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        if response.drop:
            # the write is committed; break the connection before the body is complete
            raise ConnectionDropped("connection dropped after commit (fault injection)")
        await send({"type": "http.response.body", "body": response.body})

    def _solo(self, client: object) -> bool:
        """True once :data:`SOLO_STREAK` requests in a row came over one connection: a lone client
        waits for each answer, so nothing runs beside a request answered on the loop. With several
        connections active every request goes to the workers, which overlap one's SQLite work with
        another's Python."""
        if client is not None and client == self._last_client:
            self._streak += 1
        else:
            self._last_client, self._streak = client, 1
        return self._streak >= SOLO_STREAK

    def _small_write_now(self, request: Request) -> Response | None:
        """Answer a small write on the event loop when no other request is running or waiting on the
        workers and no thread holds the store's writer (so it never waits for one); else None."""
        if not self._workers.idle or self.gateway.idempotency.in_flight():
            return None
        with self.gateway.store.writer_if_free() as free:  # held for the block: nothing is awaited in it
            return self.gateway.handle(request) if free else None

    async def _delay(self, seconds: float) -> None:
        """Injected latency, cut short when the latency fault is turned off."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while seconds > 0:
            await asyncio.sleep(min(_LATENCY_STEP, seconds))
            if self.gateway.faults.current_latency() <= 0:
                return
            seconds = end - loop.time()
