"""Every official R4 example through the sandbox: created exactly when the local validator finds no
error (refused with paths otherwise, the same verdict on both sides), then read back with exactly the
content that was sent (decimals included), apart from the server-owned id and meta."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from clinikfhir.models._json import decode
from clinikfhir.sandbox import Sandbox
from clinikfhir.validation import has_errors, validate

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "r4-examples-4.0.1.zip"
TENANT_TAG = {"system": "https://clinikapi.com/tenant", "code": "org_corpus"}


@pytest.mark.slow
def test_corpus_round_trips_through_the_store() -> None:
    created = refused = too_big = 0
    with Sandbox() as sb, sb.client(sb.create_key("org_corpus")) as c, zipfile.ZipFile(CORPUS) as zf:
        for name in zf.namelist():
            if not name.endswith(".json"):
                continue
            raw = zf.read(name)
            sent: dict[str, Any] = decode(raw)
            rtype = sent["resourceType"]
            r = c.post(f"/v1/fhir/{rtype}", content=raw, headers={"Content-Type": "application/fhir+json"})
            if r.status_code == 413:
                assert len(raw) > 1024 * 1024, name
                too_big += 1
                continue
            # the sandbox mints its own id on create, so the example's id is not part of the verdict
            assert (r.status_code == 422) == has_errors(validate({k: v for k, v in sent.items() if k != "id"})), name
            if r.status_code == 422:
                issues = r.json()["issues"]
                assert issues, name
                assert all(i["expression"][0].startswith(rtype) for i in issues), name
                refused += 1
                continue
            assert r.status_code == 201, (name, r.text[:300])
            back: dict[str, Any] = decode(c.get(f"/v1/fhir/{rtype}/{r.json()['id']}").content)
            assert TENANT_TAG in back["meta"]["tag"], name
            assert back["meta"]["versionId"] == "1"
            expected = {k: v for k, v in sent.items() if k not in ("id", "meta")}
            assert {k: v for k, v in back.items() if k not in ("id", "meta")} == expected, name
            other_tags = [t for t in (sent.get("meta") or {}).get("tag", []) if t not in back["meta"]["tag"]]
            assert other_tags == [], name
            created += 1
        assert sb.internal_errors == []
    # 818 examples: 22 are invalid R4 (tests/validation/_corpus.py), one of them only by its 65-char id,
    # which a create does not keep; of the other 21, two are over 1 MiB (413) and 19 are refused (422)
    assert (created, refused, too_big) == (797, 19, 2)
