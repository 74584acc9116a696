"""The one ``_tag`` tenant guard: the builder, ``query_string()``, ``check()``, ``guard_params`` and
every way a client executes a search give the same verdict, and nothing is sent when it refuses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from clinikfhir import Clinik
from clinikfhir._core import guard_params
from clinikfhir.errors import TenantGuardError
from clinikfhir.models import Observation, Patient
from clinikfhir.sandbox import Sandbox
from clinikfhir.search import ObservationQuery, PatientQuery

T = "https://clinikapi.com/tenant"

REFUSED = [
    ("_tag", f"{T}|org_x"),
    ("_tag", f"http://other|a,{T}|org_x"),
    ("_tag", "HTTPS://CLINIKAPI.COM/TENANT/|org_x"),
    ("_tag:missing", "true"),
    ("_tag:missing", "false"),
    ("_tag:not", f"{T}|org_x"),
    ("_tag:not", "org_x"),
    ("_tag:not", "|org_x"),
    ("_tag:text", f"{T}"),
    ("_tag:text", "clinikapi.com/tenant"),
    ("_tag:above", T),
    ("_tag:below", T),
    ("_tag:in", T),
    ("subject._tag", f"{T}|org_x"),
    ("subject:Patient._tag:missing", "true"),
    ("subject:Patient.organization._tag:not", "org_x"),
    ("_has:Observation:patient:_tag", f"{T}|org_x"),
    ("_has:Observation:patient:_tag:missing", "true"),
    ("_has:Observation:patient:_has:Provenance:target:_tag:not", "org_x"),
]

ALLOWED = [
    ("_tag", "http://example.org/tags|vip"),
    ("_tag:not", "http://example.org/tags|vip"),
    ("_tag:text", "vip"),
    ("_security", f"{T}|org_x"),  # not _tag: the gateway does not use it (its own business)
    ("subject._tag", "http://example.org/tags|vip"),
    ("_tagx", "true"),
]


@pytest.fixture
def recorded(sandbox: Sandbox, api_key: str) -> Iterator[tuple[Clinik, list[httpx.Request]]]:
    sent: list[httpx.Request] = []
    http = httpx.Client(transport=sandbox.transport(), event_hooks={"request": [sent.append]})
    with Clinik(api_key, base_url=sandbox.base_url, http_client=http) as clinik:
        yield clinik, sent
    http.close()


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_every_path_refuses_the_same_tenant_filters(
    name: str, value: str, recorded: tuple[Clinik, list[httpx.Request]]
) -> None:
    clinik, sent = recorded
    with pytest.raises(TenantGuardError, match="owns tenancy"):
        guard_params([(name, value)])
    with pytest.raises(TenantGuardError):
        PatientQuery().raw(name, value)
    with pytest.raises(TenantGuardError):
        ObservationQuery(params=[(name, value)])
    with pytest.raises(TenantGuardError):
        clinik.search(Observation, [(name, value)])
    # private: the guard below the builder (defence in depth), which no public call reaches unguarded
    with pytest.raises(TenantGuardError):
        clinik._execute_search(Observation, [(name, value)])
    with pytest.raises(TenantGuardError):
        clinik._execute_search(Observation, [(name, value)], post=True)
    with pytest.raises(TenantGuardError):
        clinik.request("GET", "/Observation", params=[(name, value)])
    with pytest.raises(TenantGuardError):
        clinik.everything(Patient, "pt1", params=[(name, value)])
    assert sent == []  # nothing reached the wire


def test_the_typed_tag_member_refuses_the_tenant_system() -> None:
    with pytest.raises(TenantGuardError):
        PatientQuery().tag_((T, "org_x"))
    with pytest.raises(TenantGuardError):
        PatientQuery().tag_.text("clinikapi.com/tenant")
    with pytest.raises(TenantGuardError):
        PatientQuery().tag_.missing(True)
    with pytest.raises(TenantGuardError):
        PatientQuery().tag_.not_("org_x")


@pytest.mark.parametrize(("name", "value"), ALLOWED)
def test_other_tags_pass_everywhere(name: str, value: str, recorded: tuple[Clinik, list[httpx.Request]]) -> None:
    clinik, sent = recorded
    guard_params([(name, value)])
    q = PatientQuery().raw(name, value)
    assert q.query_string()
    assert ObservationQuery(params=[(name, value)]).params() == ((name, value),)
    if not name.startswith("_tagx") and "." not in name:
        clinik.search(Patient, [(name, value)]).page()  # sent, and the server accepts it
        assert len(sent) == 1


def test_messages_never_echo_the_value() -> None:
    with pytest.raises(TenantGuardError) as info:
        guard_params([("_tag", f"{T}|org_secretcode")])
    assert "org_secretcode" not in str(info.value)
