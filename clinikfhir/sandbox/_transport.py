"""In-process httpx transports (sync and async): the gateway without sockets.

Injected latency passes on the sandbox's clock and honours the request's read timeout: when the
latency exceeds it, the transport waits only the timeout and raises :class:`httpx.ReadTimeout`, as a
socket would (the write, if any, is committed all the same)."""

from __future__ import annotations

from typing import cast

import httpx

from ._gateway import Gateway
from ._http import Request, Response


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


def _wait(request: httpx.Request, delay: float) -> tuple[float, bool]:
    """(seconds to wait, whether the read then times out) for an injected ``delay``."""
    timeouts: object = request.extensions.get("timeout")
    read: object = cast("dict[str, object]", timeouts).get("read") if isinstance(timeouts, dict) else None
    if isinstance(read, (int, float)) and delay > read:
        return float(read), True
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
    """An async httpx transport that hands each request to the gateway in this process."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = self.gateway.handle(_to_request(request, body))
        if response.delay > 0:
            wait, timed_out = _wait(request, response.delay)
            await self.gateway.clock.asleep(wait)
            if timed_out:
                raise _timed_out(request)
        if response.drop:
            raise _dropped(request)
        return _to_response(request, response)
