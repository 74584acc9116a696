"""The wire contract's facts are defined once (``clinikfhir._wire``) and only imported elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import clinikfhir
from clinikfhir import _checks, _config, _wire, errors
from clinikfhir.sandbox import _fhir, _gateway, _keys, _tenant
from clinikfhir.search import _query

ROOT = Path(clinikfhir.__file__).parent
COPIES = re.compile(
    r"""=\s*["']https://clinikapi\.com/tenant["']"""  # an assignment of the tenant system
    r"""|clk_\(\??:?live\|test\)_\[A-Za-z0-9\]\+"""  # the key pattern
    r"""|\[A-Za-z0-9\._-\]\{1,128\}"""  # the id pattern
    r"""|1_048_576|1048576|1024 \* 1024"""  # the body cap
)


def test_every_module_uses_the_one_definition() -> None:
    assert _checks.TENANT_SYSTEM is _wire.TENANT_SYSTEM
    assert _query.TENANT_SYSTEM is _wire.TENANT_SYSTEM
    assert _tenant.TENANT_SYSTEM is _wire.TENANT_SYSTEM
    assert _config.KEY_PATTERN is _wire.KEY_PATTERN
    assert errors._API_KEY_PATTERN is _wire.KEY_PATTERN  # pyright: ignore[reportPrivateUsage]
    assert _keys.KEY_FORMAT is _wire.KEY_PATTERN
    assert _fhir.ID_RE is _wire.ID_PATTERN
    assert _checks.MAX_BODY_BYTES is _wire.MAX_BODY_BYTES
    assert _gateway.MAX_BODY is _wire.MAX_BODY_BYTES


def test_no_copy_of_a_wire_constant_remains_in_the_sources() -> None:
    skip = ("_wire.py", "_generated", "sandbox/search")  # sandbox/search: its owner dedupes it
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted(ROOT.rglob("*.py"))
        if not any(s in path.as_posix() for s in skip)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if COPIES.search(line) and "``" not in line  # docstrings may quote the format
    ]
    assert offenders == []


def test_redaction_still_finds_a_key_inside_a_text() -> None:
    assert errors.redact("bad key clk_test_AbC123 in header") == "bad key [REDACTED] in header"
