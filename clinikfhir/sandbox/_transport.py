"""In-process httpx transports (sync and async): the gateway without sockets."""

from __future__ import annotations

import asyncio
import time

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


class SandboxTransport(httpx.BaseTransport):
    """A sync httpx transport that hands each request to the gateway in this process."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = self.gateway.handle(_to_request(request, body))
        if response.delay > 0:
            time.sleep(response.delay)
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
            await asyncio.sleep(response.delay)
        if response.drop:
            raise _dropped(request)
        return _to_response(request, response)
