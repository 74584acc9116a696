"""Agreement between the builder (clinikfhir.search) and the engine: for every search parameter the
codegen table defines on six core types, queries built by the typed builder run against the
in-process sandbox without error; parameters the engine does not implement get a 400 naming them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS, ParamDef
from clinikfhir.sandbox import Sandbox
from clinikfhir.sandbox.search import supported_parameters
from clinikfhir.search import query_class
from clinikfhir.search._names import python_name

TYPES = ("Patient", "Observation", "Encounter", "Condition", "MedicationRequest", "DiagnosticReport")


def _variants(pdef: ParamDef) -> list[Callable[[Any], Any]]:
    """Builder calls for one parameter: every kind-specific form plus :missing."""
    out: list[Callable[[Any], Any]] = [lambda p: p.missing(), lambda p: p.missing(False)]
    if pdef.type == "token":
        out += [lambda p: p("x"), lambda p: p(("urn:s", "x")), lambda p: p.text("x"), lambda p: p.not_("x")]
    elif pdef.code in ("_text", "_content"):
        out += [lambda p: p("x"), lambda p: p("two words"), lambda p: p.contains("x")]
    elif pdef.type == "string":
        out += [lambda p: p("x"), lambda p: p.exact("X"), lambda p: p.contains("x")]
    elif pdef.type == "date":
        out += [lambda p: p.ge(dt.date(2024, 1, 1)), lambda p: p.lt("2024-01-01T10:00:00Z"), lambda p: p.ap("2024")]
    elif pdef.type in ("number", "quantity"):
        out += [lambda p: p.gt(1), lambda p: p.eq(1.5), lambda p: p.le(2)]
    elif pdef.type == "reference":
        target = pdef.targets[0] if pdef.targets else "Patient"
        out += [lambda p: p(f"{target}/1"), lambda p: p("1"), lambda p: p.identifier(("urn:s", "1"))]
    elif pdef.type == "uri":
        out += [lambda p: p("http://example.org/x"), lambda p: p.below("http://example.org")]
    return out


@pytest.mark.parametrize("rtype", TYPES)
def test_builder_queries_run_on_the_engine(sandbox: Sandbox, api_key: str, rtype: str) -> None:
    supported = {p.code for p in supported_parameters(rtype)}
    checked = 0
    with httpx.Client(base_url=sandbox.base_url, transport=sandbox.transport(), headers={"x-api-key": api_key}) as c:
        for code, pdef in sorted(SEARCH_PARAMETERS[rtype].items()):
            if code == "_tag":
                continue  # the builder's tenant guard owns _tag
            param = getattr(query_class(rtype)(), python_name(code))
            for build in _variants(pdef):
                query = build(param).query_string()
                response = c.get(f"/v1/fhir/{rtype}?{query}")
                if code in supported:
                    assert response.status_code == 200, (query, response.text)
                else:
                    assert response.status_code == 400, query
                    assert code in response.text
                checked += 1
    assert checked > 50
