"""Decode the generated R4 element tables into lookup structures, one node at a time, on first use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from clinikfhir._generated.validation_schema import NODE_TYPES, NODES, SKIPPED_VALUE_SETS, VALUE_SETS


@dataclass(frozen=True, slots=True)
class Element:
    """One element definition of a node: ``name`` without ``[x]``; ``max == -1`` means ``*``."""

    name: str
    min: int
    max: int
    value_set: str
    targets: frozenset[str]
    invariants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Field:
    """One JSON key of a node: its element, the type it carries, and the node describing its children.

    ``child`` is ``""`` for primitives, ``"Resource"`` for an embedded resource, else a node name.
    """

    element: Element
    type: str
    child: str
    choice: bool


@dataclass(frozen=True, slots=True)
class Node:
    """A resource, datatype or backbone element: its JSON keys, required elements and invariants.

    ``type`` is the FHIR type FHIRPath sees: the name itself, except for a constrained datatype
    (``SimpleQuantity``, ``MoneyQuantity``: ``Quantity``) and a backbone path.
    """

    name: str
    type: str
    fields: dict[str, Field]
    required: tuple[Element, ...]
    invariants: tuple[str, ...]


def _decode(name: str) -> Node:
    invariants, lines = NODES[name]
    fields: dict[str, Field] = {}
    required: list[Element] = []
    for line in lines:
        ename, min_, max_, types, vs, targets, own = line.split(" ")
        choice = ename.endswith("[x]")
        if choice:
            ename = ename[:-3]
        element = Element(
            ename,
            int(min_),
            -1 if max_ == "*" else int(max_),
            "" if vs == "-" else vs,
            frozenset() if targets == "-" else frozenset(targets.split(",")),
            () if own == "-" else tuple(own.split(",")),
        )
        if element.min > 0:
            required.append(element)
        for spec in types.split(","):
            code, _, child = spec.partition("=")
            if not child:
                child = code if code[:1].isupper() else ""
            key = ename + code[0].upper() + code[1:] if choice else ename
            fields[key] = Field(element, code, child, choice)
    return Node(name, NODE_TYPES.get(name, name), fields, tuple(required), invariants)


@cache
def node(name: str) -> Node | None:
    """The decoded node called ``name`` (a type name or a backbone path), or None if unknown."""
    if name not in NODES:
        return None
    return _decode(name)


@cache
def value_set_codes(url: str) -> tuple[frozenset[tuple[str, str]], frozenset[str]] | None:
    """The (system, code) pairs and the bare codes of a required value set; None if not enumerable."""
    systems = VALUE_SETS.get(url)
    if not systems or url in SKIPPED_VALUE_SETS:
        return None
    pairs = frozenset((system, code) for system, codes in systems.items() for code in codes)
    return pairs, frozenset(code for _, code in pairs)


ALLOWED_SHOWN = 10
"""How many codes a binding error lists before saying how many more the value set has."""


@cache
def allowed_codes(url: str, *, systems: bool) -> str:
    """The codes of a required value set as a binding error shows them (codes are not patient data):
    ``male, female, other, unknown``; with ``systems``, each system after its codes; at most
    :data:`ALLOWED_SHOWN` codes, then how many more."""
    groups = VALUE_SETS.get(url) or {}
    total = sum(len(codes) for codes in groups.values())
    parts: list[str] = []
    left = ALLOWED_SHOWN
    for system, codes in groups.items():
        if left <= 0:
            break
        shown = ", ".join(codes[:left])
        left -= len(codes[:left])
        parts.append(f"{shown} from {system}" if systems else shown)
    separator = "; " if systems else ", "
    text = separator.join(parts)
    if total > ALLOWED_SHOWN:
        text += f"{separator}... ({total - ALLOWED_SHOWN} more)"
    return text
