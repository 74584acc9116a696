"""Showing resources in a terminal: a one-line summary per resource, a table of matches, JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console

    from clinikfhir.models import Resource

__all__ = ["as_json", "show_resource", "summary", "table_of"]


def as_json(resource: Resource) -> dict[str, Any]:
    """The resource's FHIR JSON (lossless: decimals and dates as read)."""
    import orjson

    from clinikfhir.models import dump_bytes

    data: dict[str, Any] = orjson.loads(dump_bytes(resource))
    return data


def _obj(value: Any) -> dict[str, Any]:
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    items: list[Any] = value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]
    return items


def _text(value: Any) -> str:
    concept = _obj(value)
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for item in _list(concept.get("coding")):
        coding = _obj(item)
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _name(names: Any) -> str:
    for item in _list(names):
        name = _obj(item)
        if name.get("text"):
            return str(name["text"])
        if name:
            given: list[Any] = _list(name.get("given"))
            return " ".join([*map(str, given), str(name.get("family") or "")]).strip()
    return ""


def _value(data: dict[str, Any]) -> str:
    quantity = _obj(data.get("valueQuantity"))
    if quantity:
        return f"{quantity.get('value', '')} {quantity.get('unit') or quantity.get('code') or ''}".strip()
    for key, value in data.items():
        if key.startswith("value") and key != "valueQuantity":
            return _text(value) if isinstance(value, dict) else str(value)
    return ""


def summary(data: dict[str, Any]) -> str:
    """A short human description: a patient's name, gender and birth date; an observation's code,
    value and time; otherwise the first of name, code, status and subject found."""
    rtype = data.get("resourceType")
    parts: list[str]
    if rtype in ("Patient", "Practitioner", "Person", "RelatedPerson"):
        parts = [_name(data.get("name")), str(data.get("gender") or ""), str(data.get("birthDate") or "")]
    elif rtype == "Observation":
        parts = [_text(data.get("code")), _value(data), str(data.get("effectiveDateTime") or "")]
    else:
        name = data.get("name")
        parts = [
            name if isinstance(name, str) else _name(name) if isinstance(name, list) else "",
            _text(data.get("code") or data.get("type")),
            str(data.get("status") or ""),
            str(_obj(data.get("subject") or data.get("patient")).get("reference") or ""),
        ]
    return "  ".join(p for p in parts if p)


def table_of(resources: list[Resource], title: str) -> Any:
    """A rich table: type/id, version, last updated, summary."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("resource", "version", "last updated", "summary"):
        table.add_column(column, overflow="fold")
    for resource in resources:
        data = as_json(resource)
        meta = _obj(data.get("meta"))
        table.add_row(
            f"{data.get('resourceType')}/{data.get('id')}",
            str(meta.get("versionId") or ""),
            str(meta.get("lastUpdated") or ""),
            summary(data),
        )
    return table


def show_resource(out: Console, resource: Resource) -> None:
    """A header line (type/id, version, last updated, summary) and the resource as highlighted JSON."""
    import orjson
    from rich.json import JSON

    data = as_json(resource)
    meta = _obj(data.get("meta"))
    header = f"{data.get('resourceType')}/{data.get('id')}"
    if meta.get("versionId"):
        header += f"  version {meta['versionId']}"
    if meta.get("lastUpdated"):
        header += f"  updated {meta['lastUpdated']}"
    out.print(header, style="bold", markup=False)
    line = summary(data)
    if line:
        out.print(line, markup=False)
    out.print(JSON(orjson.dumps(data).decode()))
