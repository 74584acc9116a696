"""The CLI's client set-up: certificate checks are only left out where no TLS can happen."""

from __future__ import annotations

import httpx

from clinikfhir.cli._common import _plain_http, run_async  # pyright: ignore[reportPrivateUsage]


def test_only_a_plain_http_server_gets_the_transport_without_certificates() -> None:
    for url in ("https://api.clinikapi.com", "HTTPS://example.org/v1", None, ""):
        assert _plain_http(url) is None  # the default transport: certificates verified
    transport = _plain_http("http://127.0.0.1:8080")
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    assert _plain_http("HTTP://localhost") is not None


def test_run_async_runs_the_coroutine_to_its_answer() -> None:
    async def answer() -> int:
        return 42

    assert run_async(answer()) == 42
