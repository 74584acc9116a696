"""Configuration: key format and secrecy, base URL rules, environment defaults, logging hygiene."""

from __future__ import annotations

import contextlib
import logging
import pickle

import httpx
import pytest

from clinikfhir import AsyncClinik, Clinik
from clinikfhir._log import RedactUrlFilter, redact_url
from clinikfhir.errors import ConfigurationError
from clinikfhir.models import HumanName, Patient
from clinikfhir.sandbox import Sandbox

KEY = "clk_test_abcDEF123"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "clk_prod_abc",
        "clk_test_",
        "clk_test_abc-def",
        " clk_test_abc",
        "clk_test_abc\n",
        "ehr_live_abc",
        "CLK_TEST_abc",
    ],
)
def test_malformed_keys_are_refused_with_a_clear_error_that_does_not_echo_them(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Clinik(bad)
    message = str(info.value)
    assert "clk_live_" in message or "CLINIK_API_KEY" in message
    if len(bad.strip()) > len("clk_test_"):
        assert bad.strip() not in message


def test_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINIK_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="CLINIK_API_KEY"):
        Clinik()


def test_key_and_base_url_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINIK_API_KEY", "clk_live_fromEnv1")
    monkeypatch.setenv("CLINIK_BASE_URL", "https://example.test/")
    with Clinik() as clinik:
        assert clinik._core.config.api_key.environment == "live"
        assert clinik._core.config.root == "https://example.test"


def test_default_base_url_is_the_production_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINIK_BASE_URL", raising=False)
    with Clinik(KEY) as clinik:
        assert clinik._core.config.root == "https://api.clinikapi.com"
        assert clinik._core.config.timeout == 30.0
        assert clinik._core.config.retry.max_retries == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://api.clinikapi.com",
        "http://10.0.0.5:8080",
        "http://localhost.evil.com",
        "ftp://x",
        "not a url",
        "https://user:pw@api.clinikapi.com",
        "https://api.clinikapi.com/?x=1",
    ],
)
def test_unsafe_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Clinik(KEY, base_url=url)


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://api.localhost", "http://api.localhost"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.5.6.7", "http://127.5.6.7"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("https://api.clinikapi.com/v1", "https://api.clinikapi.com"),
        ("https://api.clinikapi.com/", "https://api.clinikapi.com"),
    ],
)
def test_loopback_http_and_https_are_accepted(url: str, root: str) -> None:
    with Clinik(KEY, base_url=url) as clinik:
        assert clinik._core.config.root == root


def test_the_key_never_shows_in_repr_str_or_pickles() -> None:
    with Clinik(KEY, base_url="http://localhost") as clinik:
        for text in (repr(clinik), str(clinik), repr(clinik._core.config), str(clinik._core.config.api_key)):
            assert "abcDEF123" not in text
        assert "clk_test_****" in repr(clinik)
        with pytest.raises(TypeError):
            pickle.dumps(clinik._core.config.api_key)


def test_bad_timeout_and_retries_are_configuration_errors() -> None:
    for kwargs in ({"timeout": 0}, {"timeout": -1}, {"retries": -1}, {"retries": True}):
        with pytest.raises(ConfigurationError):
            Clinik(KEY, **kwargs)  # type: ignore[arg-type]


def test_http_client_and_transport_are_exclusive() -> None:
    with pytest.raises(ConfigurationError):
        Clinik(KEY, http_client=httpx.Client(), transport=httpx.MockTransport(lambda r: httpx.Response(200)))


def test_a_passed_http_client_is_not_closed() -> None:
    sb = Sandbox()
    key = sb.create_key("org_cfg")
    http = httpx.Client(transport=sb.transport())
    with Clinik(key, base_url=sb.base_url, http_client=http) as clinik:
        clinik.create(Patient(gender="male"))
    assert not http.is_closed
    http.close()
    sb.close()


async def test_async_client_closes_its_own_pool() -> None:
    sb = Sandbox()
    key = sb.create_key("org_cfg")
    async with AsyncClinik(key, base_url=sb.base_url, transport=sb.async_transport()) as clinik:
        await clinik.create(Patient(gender="male"))
    assert clinik._http.is_closed
    sb.close()


def test_logs_name_method_type_status_and_request_id_but_never_keys_bodies_or_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sb = Sandbox()
    key = sb.create_key("org_log")
    caplog.set_level(logging.DEBUG)  # every logger, httpx's own included
    with Clinik(key, base_url=sb.base_url, transport=sb.transport()) as clinik:
        p = clinik.create(Patient(name=[HumanName(family="Secretfamily")], gender="male"))
        clinik.search(Patient).family("Secretfamily").page()
        clinik.read(Patient, p.id)
        with contextlib.suppress(Exception):
            clinik.read(Patient, "missing-id-xyz")
    records = [r for r in caplog.records if r.name == "clinikfhir"]
    text = "\n".join(r.getMessage() for r in records)
    assert "POST Patient -> 201" in text
    assert "GET Patient -> 200" in text
    assert "GET Patient -> 404" in text
    assert "req_" in text
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)  # httpx did log, redacted
    for secret in (key, "Secretfamily", p.id, "missing-id-xyz"):
        assert secret not in everything
    sb.close()


def test_httpx_request_log_keeps_names_but_never_search_values(caplog: pytest.LogCaptureFixture) -> None:
    sb = Sandbox()
    key = sb.create_key("org_log2")
    caplog.set_level(logging.DEBUG)
    with Clinik(key, base_url=sb.base_url, transport=sb.transport()) as clinik:
        clinik.search(Patient).family("Zyxwvufamily").given("Qponmgiven").page()
        list(clinik.search(Patient, {"birthdate": "1987-06-05", "_count": 1}).iter())
        clinik.request("GET", "/Patient?identifier=urn:x|Mrn998877")
    text = "\n".join(r.getMessage() for r in caplog.records)
    for value in ("Zyxwvufamily", "Qponmgiven", "1987-06-05", "Mrn998877"):
        assert value not in text
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/v1/fhir/Patient?family=***&given=***" in line for line in httpx_lines)
    assert any("birthdate=***" in line for line in httpx_lines)
    # installed once, however many clients are created
    Clinik(key, base_url=sb.base_url, transport=sb.transport()).close()
    assert sum(isinstance(f, RedactUrlFilter) for f in logging.getLogger("httpx").filters) == 1
    sb.close()


def test_redact_url() -> None:
    assert redact_url("https://h.example/v1/fhir/Patient/pt_1/_history/2?a=1&b=x%20y&c") == (
        "https://h.example/v1/fhir/Patient/***/_history/***?a=***&b=***&c=***"
    )
    assert redact_url("http://127.0.0.1:8000/v1/fhir/Patient/$everything") == (
        "http://127.0.0.1:8000/v1/fhir/Patient/$everything"
    )
