"""A local sandbox of the ClinikAPI FHIR gateway: keys, tenants and the gateway rules in front of a
versioned FHIR store on SQLite, served in-process (httpx transports) or over HTTP (uvicorn).

>>> import httpx
>>> from clinikfhir.sandbox import Sandbox
>>> sb = Sandbox()                                            # in-process, in memory
>>> key = sb.create_key("org_a")
>>> client = httpx.Client(base_url=sb.base_url, transport=sb.transport())
>>> client.get("/v1/fhir/Patient", headers={"x-api-key": key}).json()["total"]
0
>>> client.close(); sb.close()
>>> with Sandbox.serve(port=0) as served:                     # doctest: +SKIP
...     httpx.get(f"{served.base_url}/health")                # over HTTP on a free loopback port

Routes (gateway.md §3): ``/health``; ``/v1/metadata`` and ``/v1/fhir/metadata`` without a key;
``/v1/fhir/{Type}`` create (``If-None-Exist``), search (GET or ``POST _search``), conditional update and
delete; ``/v1/fhir/{Type}/{id}`` read, PUT, PATCH (JSON Patch array or merge object), DELETE (``If-Match``);
``_history`` on type and instance, vread; ``$validate``; ``Patient[/{id}]/$everything``; batch and
transaction Bundles at ``POST /v1/fhir``. Tests can inject faults with :attr:`Sandbox.faults` or, from
loopback only, ``POST /_sandbox/faults`` with ``{"fail_next": n, "status": 503, "retry_after": 1}``,
``{"latency": s}`` (0-600 s), ``{"drop_after_commit": n}`` or ``{"reset": true}``.

Every ``fullUrl`` and page link is absolute on ``public_base_url`` (never the Host header). Time is
read from an injectable :class:`Clock` (:class:`ManualClock` in tests). Over HTTP each request runs
on a bounded worker pool within a time budget; bodies are bounded in size, depth and number range.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

import httpx

from clinikfhir._version import __version__

from ._clock import Clock, ManualClock, SystemClock
from ._gateway import DEFAULT_REQUEST_BUDGET, Gateway
from ._http import Request, Response
from ._keys import Env, KeyRing, Scope
from ._limits import DEFAULT_IDEMPOTENCY_BYTES, Faults
from ._store import Store
from ._workers import Workers

__all__ = ["Clock", "Faults", "ManualClock", "Request", "Response", "Sandbox", "SystemClock"]


class Sandbox:
    """The gateway and its store. ``Sandbox()`` is in-process and in memory; ``db`` makes it durable.

    "In memory" is a private temporary SQLite file (on tmpfs where there is room), deleted on
    :meth:`close`: nothing persists, each sandbox is fresh, and reads run beside writes as with ``db``.

    ``rate_limit`` (requests per ``rate_window`` seconds per organisation) is off unless set.
    ``revocation_lag`` emulates the gateway's 60 s key cache (0: revocation bites at once).
    ``index_lag`` makes search eventually consistent like the real gateway's (about 10 s there; 0 here by
    default): reads see a write at once, searches once it is indexed.
    ``clock`` (a :class:`ManualClock` in tests) drives all of these, key expiry, idempotency windows and
    injected latency, so tests move time instead of sleeping.
    ``public_base_url`` is the origin of every ``fullUrl`` and page link; by default the address it
    serves on (``http://localhost`` in-process), never the request's Host header.
    ``idempotency_bytes`` is the byte budget of the Idempotency-Key response cache.
    ``request_budget`` bounds the store work of one request in seconds (504 UPSTREAM_TIMEOUT past it,
    nothing written; None: unbounded).
    """

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        revocation_lag: float = 0.0,
        index_lag: float = 0.0,
        clock: Clock | None = None,
        public_base_url: str | None = None,
        idempotency_bytes: int = DEFAULT_IDEMPOTENCY_BYTES,
        request_budget: float | None = DEFAULT_REQUEST_BUDGET,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._public_base_url = _origin(public_base_url) if public_base_url is not None else None
        self.store = Store(os.fspath(db) if db is not None else None, index_lag=index_lag, clock=self.clock)
        self.keys = KeyRing(revocation_lag, self.clock)
        self.gateway = Gateway(
            self.store,
            self.keys,
            rate_limit=rate_limit,
            rate_window=rate_window,
            software_version=__version__,
            clock=self.clock,
            idempotency_bytes=idempotency_bytes,
            request_budget=request_budget,
        )
        self._server: _ServerThread | None = None
        self._lock = threading.Lock()
        self._inprocess_workers: Workers | None = None  # the async transports' worker threads, made on first use
        self.base_url = "http://localhost"

    @property
    def base_url(self) -> str:
        """Where the sandbox is reached: its served address, or ``http://localhost`` in-process."""
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value
        self.gateway.public_base_url = self._public_base_url or value

    @property
    def public_base_url(self) -> str:
        """The origin every ``fullUrl`` and page link is built on."""
        return self.gateway.public_base_url

    # ---------------------------------------------------------------- keys

    @property
    def faults(self) -> Faults:
        """Fault injection: ``fail_next``, ``latency``, ``drop_after_commit``, ``reset``."""
        return self.gateway.faults

    def create_key(self, tenant: str, scope: Scope = "*", env: Env = "test", *, expires_in: float | None = None) -> str:
        """Mint a key (``clk_test_…`` or ``clk_live_…``) for ``tenant`` with ``scope`` read, write or *."""
        expires_at = self.clock.time() + expires_in if expires_in is not None else None
        return self.keys.create(tenant, scope, env, expires_at=expires_at)

    def add_key(self, key: str, tenant: str, scope: Scope = "*", *, expires_in: float | None = None) -> str:
        """Accept a key of your choosing (it must have the documented format)."""
        expires_at = self.clock.time() + expires_in if expires_in is not None else None
        return self.keys.add(key, tenant, scope, expires_at=expires_at)

    def revoke_key(self, key: str) -> None:
        """Revoke a key now (401 KEY_REVOKED from the next request on)."""
        self.keys.revoke(key)

    def expire_key(self, key: str) -> None:
        """Expire a key now (401 KEY_EXPIRED from the next request on)."""
        self.keys.expire(key)

    def tenant_of(self, key: str) -> str:
        """The tenant a key belongs to."""
        info = self.keys.info(key)
        if info is None:
            raise KeyError("no such key")
        return info.tenant

    # ---------------------------------------------------------------- in-process use

    def handle(self, request: Request) -> Response:
        """Answer one request (the single handler behind every front end)."""
        return self.gateway.handle(request)

    def transport(self) -> httpx.BaseTransport:
        """A sync httpx transport into this sandbox, no sockets: ``httpx.Client(transport=...)``."""
        from ._transport import SandboxTransport

        return SandboxTransport(self.gateway)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """An async httpx transport into this sandbox, no sockets. Requests run on worker threads (8,
        shared by every async transport of this sandbox, at most half for one API key), never on the
        caller's event loop."""
        from ._transport import AsyncSandboxTransport

        with self._lock:
            if self._inprocess_workers is None:
                self._inprocess_workers = Workers(name="clinikfhir-sandbox-inprocess")
            return AsyncSandboxTransport(self.gateway, self._inprocess_workers)

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client on this sandbox (over HTTP when serving, else in-process) sending ``key``."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None:
            headers["x-api-key"] = key
        if self._server is None:
            kwargs.setdefault("transport", self.transport())
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)

    def asgi_app(self) -> Any:
        """The ASGI application (for any ASGI server)."""
        from ._asgi import AsgiApp

        return AsgiApp(self.gateway)

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of unexpected errors (answered as 500 INTERNAL_ERROR), kept in memory only."""
        return list(self.gateway.internal_errors)

    # ---------------------------------------------------------------- serving

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve over HTTP in a background thread; returns (and sets) ``base_url``."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already serving")
        self._server = _ServerThread(self.asgi_app(), host, port)
        self._server.begin()
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self._server.port}"
        return self.base_url

    def serve_forever(
        self, host: str = "127.0.0.1", port: int = 8080, *, ready: Callable[[str], None] | None = None
    ) -> None:
        """Serve over HTTP in the calling thread until Ctrl-C / SIGTERM (what ``clinikfhir sandbox`` does).

        ``ready(base_url)`` is called once the socket is bound, before serving starts."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already serving")
        server = _ServerThread(self.asgi_app(), host, port)
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{server.port}"
        # Ctrl-C / SIGTERM from here on stops the server, also when it comes before uvicorn takes the
        # signals over (right after ``ready`` prints a banner): uvicorn then starts and stops at once
        early: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():

            def stop_early(signum: int, frame: object) -> None:
                server.server.should_exit = True

            early = {sig: signal.signal(sig, stop_early) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if ready is not None:
                ready(self.base_url)
            server.foreground()
        finally:
            for sig, handler in early.items():
                signal.signal(sig, handler)
            self.base_url = "http://localhost"

    def stop(self) -> None:
        """Stop serving over HTTP (the data stays)."""
        server, self._server = self._server, None
        if server is not None:
            server.end()
        self.base_url = "http://localhost"

    @classmethod
    @contextmanager
    def serve(
        cls,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        db: str | os.PathLike[str] | None = None,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        revocation_lag: float = 0.0,
        index_lag: float = 0.0,
        clock: Clock | None = None,
        public_base_url: str | None = None,
        idempotency_bytes: int = DEFAULT_IDEMPOTENCY_BYTES,
        request_budget: float | None = DEFAULT_REQUEST_BUDGET,
    ) -> Generator[Sandbox, None, None]:
        """A sandbox served by uvicorn on ``host:port`` (a free loopback port by default) for the block."""
        sb = cls(
            db,
            rate_limit=rate_limit,
            rate_window=rate_window,
            revocation_lag=revocation_lag,
            index_lag=index_lag,
            clock=clock,
            public_base_url=public_base_url,
            idempotency_bytes=idempotency_bytes,
            request_budget=request_budget,
        )
        try:
            sb.start(host, port)
            yield sb
        finally:
            sb.close()

    def close(self) -> None:
        """Stop serving, stop the in-process worker threads and close the store."""
        self.stop()
        with self._lock:
            workers, self._inprocess_workers = self._inprocess_workers, None
        if workers is not None:
            workers.close()
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute http(s) URL (a path is not allowed)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.path not in ("", "/"):
        raise ValueError("public_base_url must be an absolute http(s) origin such as https://sandbox.example:8443")
    return str(parsed.copy_with(path="/", query=None, fragment=None)).rstrip("/")


class _DropFilter(logging.Filter):
    """Hide uvicorn's traceback for connections broken on purpose by fault injection."""

    def filter(self, record: logging.LogRecord) -> bool:
        from ._asgi import ConnectionDropped

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def _quiet_dropped_connections() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())


class _ServerThread:
    """uvicorn in a daemon thread, on a socket bound before the thread starts."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(256)
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            proxy_headers=False,
        )
        _quiet_dropped_connections()
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"clinikfhir-sandbox-{self.port}", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def foreground(self) -> None:
        """Serve in the calling (main) thread until SIGINT/SIGTERM; uvicorn shuts down gracefully."""
        try:
            self.server.run(sockets=[self.sock])
        except KeyboardInterrupt:  # uvicorn re-raises the captured Ctrl-C after its graceful shutdown
            pass
        finally:
            self.sock.close()
            self._close_app()

    def begin(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10.0
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)

    def end(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10.0)
        self.sock.close()
        self._close_app()

    def _close_app(self) -> None:
        from ._asgi import AsgiApp

        if isinstance(self.app, AsgiApp):
            self.app.close()
