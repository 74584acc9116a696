"""A hostile server on loopback echoes the API key and PHI everywhere it can: none of it may reach
an exception's ``str``/``repr``, its traceback, its pickle, or a log record (sync and async)."""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from clinikfhir import AsyncClinik, Clinik
from clinikfhir.errors import ApiError, ClinikError, redact
from clinikfhir.models import Patient

from ._rawserver import RawServer, Script, Seen, response
from .conftest import Either

KEY = "clk_test_HostileEchoKey0123456789"
PHI = ("john@example.com", "1990-01-15T10:20:30Z", "555-123-4567")
STATUSES = (400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 429, 500, 503)


@pytest.fixture
def server() -> Iterator[RawServer]:
    s = RawServer()
    yield s
    s.close()


@pytest.fixture(params=["sync", "async"])
async def client(request: pytest.FixtureRequest, server: RawServer) -> AsyncIterator[Either]:
    cls = AsyncClinik if request.param == "async" else Clinik
    either = Either(cls(KEY, base_url=server.url, retries=0))
    yield either
    await either.close()


def _echo(status: int) -> Any:
    def handler(seen: Seen) -> Script:
        key = seen.headers.get("x-api-key", "")
        secret = f"{key} {' '.join(PHI)}"
        body = {
            "error": secret,
            "code": f"E_{key}",
            "message": secret,
            "requestId": f"req_{key}",
            "issue": [
                {
                    "severity": f"error {key}",
                    "code": f"invalid {key}",
                    "diagnostics": secret,
                    "expression": [f"Patient.name.where(text='{key}')", PHI[0]],
                }
            ],
        }
        headers = {
            "x-request-id": f"req_{key}",
            "location": f"http://127.0.0.1/v1/fhir/Patient/{key}/_history/1",
            "etag": f'W/"{key}"',
            "x-timestamp": key,
            "last-modified": key,
            "retry-after": "0",
            "content-type": "application/json",
        }
        return Script(response(status, json.dumps(body), headers, reason=key))

    return handler


def _everything(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc)) + str(exc) + repr(exc) + repr(vars(exc))
    text += repr(pickle.dumps(exc)) + repr(vars(pickle.loads(pickle.dumps(exc))))
    if isinstance(exc, ApiError):
        text += repr(exc.meta) + repr(exc.issues) + "".join(str(i) for i in exc.issues)
    return text


@pytest.mark.parametrize("status", STATUSES)
async def test_nothing_a_server_echoes_reaches_an_exception(client: Either, server: RawServer, status: int) -> None:
    server.answer(_echo(status))
    for call in (client.read(Patient, "p1"), client.update(Patient(id="p1", gender="male"), if_match=False)):
        with pytest.raises(ClinikError) as info:
            await call
        text = _everything(info.value)
        assert "HostileEchoKey" not in text
        for value in PHI:
            assert value not in text
        assert server.seen[-1].headers["x-api-key"] == KEY  # the key really was echoed back


def test_redact_takes_a_whole_datetime() -> None:
    assert redact("born 1990-01-15T10:20:30Z") == "born [REDACTED]"
    assert redact("at 2019-02-28T10:00:00.123+01:00, then") == "at [REDACTED], then"
    assert redact("day 1990-01-15.") == "day [REDACTED]."


async def test_debug_logs_of_httpx_and_httpcore_carry_no_id_key_or_value(
    client: Either, server: RawServer, caplog: pytest.LogCaptureFixture
) -> None:
    def ok(seen: Seen) -> Script:
        key = seen.headers.get("x-api-key", "")
        headers = {"location": "http://127.0.0.1/v1/fhir/Patient/pt-secret-id/_history/1", "x-echo": key}
        body = json.dumps({"resourceType": "Patient", "id": "pt-secret-id", "gender": "male"})
        return Script(response(201, body, {**headers, "content-type": "application/fhir+json"}))

    server.answer(ok)
    with caplog.at_level(logging.DEBUG):
        await client.create(Patient(gender="male"))
        await client.read(Patient, "pt-secret-id")
    names = {r.name for r in caplog.records}
    assert any(n.startswith("httpcore") for n in names)  # httpcore really logged at DEBUG
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "pt-secret-id" not in logged
    assert "HostileEchoKey" not in logged
