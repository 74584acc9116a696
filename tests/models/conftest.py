"""Shared fixtures for the model tests: the official R4 example corpus, read from the vendored zip."""

from __future__ import annotations

import decimal
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "r4-examples-4.0.1.zip"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import synth`


def exact(raw: str | bytes) -> Any:
    """Decode JSON keeping every decimal as text-exact Decimal (the reference for comparisons)."""
    return json.loads(raw, parse_float=decimal.Decimal)


def json_diff(a: Any, b: Any, path: str = "$") -> list[str]:
    """Differences between two decoded JSON values; decimals must match digit for digit."""
    if isinstance(a, bool) or isinstance(b, bool) or type(a) is not type(b):
        if a is b or (type(a) is type(b) and a == b):
            return []
        return [f"{path}: {type(a).__name__} vs {type(b).__name__}"]
    if isinstance(a, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{path}.{key}: only in {'output' if key not in a else 'input'}")
            else:
                out += json_diff(a[key], b[key], f"{path}.{key}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in json_diff(x, y, f"{path}[{i}]")]
    if isinstance(a, decimal.Decimal):
        return [] if str(a) == str(b) else [f"{path}: decimal {a} vs {b}"]
    return [] if a == b else [f"{path}: differs"]


def corpus() -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(CORPUS) as zf:
        return [(name, zf.read(name)) for name in sorted(zf.namelist()) if name.endswith(".json")]


@pytest.fixture(scope="session")
def examples() -> list[tuple[str, bytes]]:
    """All 818 official FHIR R4 4.0.1 JSON examples as (file name, raw bytes)."""
    return corpus()
