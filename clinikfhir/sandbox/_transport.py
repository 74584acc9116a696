"""In-process httpx transports (sync and async): the gateway without sockets.

The sync transport answers on the calling thread. The async one hands each request to a bounded pool
of worker threads (:class:`._workers.Workers`, shared fairly between API keys as in the served mode),
so a slow request never blocks the caller's event loop: other tasks go on while it runs.

Injected latency passes on the sandbox's clock and honours the request's read timeout: when the
latency exceeds it, the transport waits only the timeout and raises :class:`httpx.ReadTimeout`, as a
socket would (the write, if any, is committed all the same). On the system clock the async transport
also stops waiting, with the same error, for a request still being handled once the timeout has passed.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httpx

from ._clock import SystemClock
from ._gateway import Gateway
from ._http import Request, Response
from ._workers import Workers


def _to_request(request: httpx.Request, body: bytes) -> Request:
    raw = request.url.raw_path
    path, _, query = raw.partition(b"?")
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.headers.raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return Request(
        method=request.method,
        path=path.decode("latin-1"),
        query=query.decode("latin-1"),
        headers=headers,
        body=body,
        loopback=True,
        host=request.url.netloc.decode("latin-1") or "localhost",
        scheme=request.url.scheme or "http",
    )


def _to_response(request: httpx.Request, response: Response) -> httpx.Response:
    return httpx.Response(response.status, headers=response.headers, content=response.body, request=request)


def _dropped(request: httpx.Request) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("Server disconnected without sending a complete response.", request=request)


def _read_timeout(request: httpx.Request) -> float | None:
    timeouts: object = request.extensions.get("timeout")
    read: object = cast("dict[str, object]", timeouts).get("read") if isinstance(timeouts, dict) else None
    return float(read) if isinstance(read, (int, float)) else None


def _wait(request: httpx.Request, delay: float) -> tuple[float, bool]:
    """(seconds to wait, whether the read then times out) for an injected ``delay``."""
    read = _read_timeout(request)
    if read is not None and delay > read:
        return read, True
    return delay, False


def _timed_out(request: httpx.Request) -> httpx.ReadTimeout:
    return httpx.ReadTimeout("The read operation timed out", request=request)


class SandboxTransport(httpx.BaseTransport):
    """A sync httpx transport that hands each request to the gateway in this process."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = self.gateway.handle(_to_request(request, body))
        if response.delay > 0:
            wait, timed_out = _wait(request, response.delay)
            self.gateway.clock.sleep(wait)
            if timed_out:
                raise _timed_out(request)
        if response.drop:
            raise _dropped(request)
        return _to_response(request, response)


class AsyncSandboxTransport(httpx.AsyncBaseTransport):
    """An async httpx transport that hands each request to the gateway in this process, on a worker
    thread of ``workers`` (its own pool of 8 when not given, stopped by :meth:`aclose`)."""

    def __init__(self, gateway: Gateway, workers: Workers | None = None) -> None:
        self.gateway = gateway
        self._own = workers is None
        self._workers = workers if workers is not None else Workers(name="clinikfhir-sandbox-inprocess")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        req = _to_request(request, body)
        clock = self.gateway.clock
        handling = asyncio.ensure_future(self._workers.run(req.headers.get("x-api-key", ""), self.gateway.handle, req))
        read = _read_timeout(request)
        if read is not None and isinstance(clock, SystemClock):
            # a socket's read would time out while the server is still working: so does this one (the
            # request runs on to its end, like a server's, and holds its worker until then)
            done, _ = await asyncio.wait({handling}, timeout=read)
            if not done:
                raise _timed_out(request)
        response = await handling
        if response.delay > 0:
            wait, timed_out = _wait(request, response.delay)
            await clock.asleep(wait)
            if timed_out:
                raise _timed_out(request)
        if response.drop:
            raise _dropped(request)
        return _to_response(request, response)

    async def aclose(self) -> None:
        """Stop this transport's own worker threads (a shared pool is its owner's to stop)."""
        if self._own:
            await asyncio.get_running_loop().run_in_executor(None, self._workers.close)
