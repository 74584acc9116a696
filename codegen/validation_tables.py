"""Emit the structure tables the validator walks: every R4 element, its cardinality, types, required
binding, reference targets and invariants, plus the codes of every required value set.

Output: ``clinikfhir/_generated/validation_schema.py`` (layout in its docstring).

``NODES[node] = (invariants, element lines)`` where ``node`` is a resource or datatype name
(``"Observation"``, ``"Period"``), a constrained datatype (``"SimpleQuantity"``, ``"MoneyQuantity"``)
or the path of a backbone element (``"Observation.referenceRange"``). One line per element: name
(``[x]`` for choices), min, max, types, required value set, reference targets, own invariant keys.
A type is written ``Code=node`` when another node describes its children: a backbone path, or the
constrained datatype named by the element's ``type[].profile`` (``Observation.referenceRange.low``
is ``Quantity=SimpleQuantity``, so ``sqty-1`` and ``comparator`` max 0 apply there).
``NODE_TYPES`` maps a constrained datatype's node to its FHIR type (``SimpleQuantity`` -> ``Quantity``).

``ele-1`` and ``ext-1`` are not listed: the validator checks them natively on every element.
``VALUE_SETS[url] = {system: codes}`` (sorted tuples); ``CONSTRAINTS[key] = (severity, human)``.
"""

from __future__ import annotations

from typing import Any

from ._common import GENERATED, header, load

NATIVE = frozenset({"ele-1", "ext-1"})
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


# Required value sets whose membership cannot be decided from the package: the validator skips them
# (accepting any code) rather than reject valid data. Each with the reason, emitted for the docs.
NOT_ENUMERABLE = {
    "http://hl7.org/fhir/ValueSet/mimetypes": "BCP-13 media types: an open grammar, the package has no expansion",
    "http://hl7.org/fhir/ValueSet/ucum-units": "UCUM is a grammar; the package's expansion lists only common units",
    "http://loinc.org/vs/LL379-9": "a LOINC answer list that the package does not contain",
}


def _structures() -> list[dict[str, Any]]:
    """Resources and datatypes, with the constrained datatypes (SimpleQuantity, MoneyQuantity) as nodes
    of their own: an element whose type carries their profile walks them instead of the base type."""
    sds: list[dict[str, Any]] = load("structure-definitions.json")["structureDefinitions"]
    out: list[dict[str, Any]] = []
    for sd in sds:
        if sd["kind"] not in ("resource", "complex-type"):
            continue
        if sd.get("derivation") == "constraint":
            if sd["kind"] != "complex-type":
                continue  # resource profiles (e.g. vital signs) are not applied
            if any(e.get("type", [{}])[0].get("code") in ("BackboneElement", "Element") for e in sd["elements"][1:]):
                raise SystemExit(f"constrained datatype {sd['name']} has backbone elements: not supported")
        out.append(sd)
    return sorted(out, key=lambda sd: sd["name"])


def _profile_nodes() -> dict[str, tuple[str, frozenset[str]]]:
    """Profile url -> (the node that describes it, the type codes it may constrain).

    A constrained datatype (``SimpleQuantity``: type ``Quantity``) constrains its ``type``; a
    specialization (``Age``, ``Duration``, ``Distance``, ``Count``: base ``Quantity``) its base types.
    """
    sds: list[dict[str, Any]] = load("structure-definitions.json")["structureDefinitions"]
    by_url = {sd["url"]: sd for sd in sds}
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for sd in sds:
        if sd["kind"] != "complex-type":
            continue
        bases = {sd["type"]}
        base = by_url.get(sd.get("baseDefinition", ""))
        while base is not None:
            bases.add(base["type"])
            base = by_url.get(base.get("baseDefinition", ""))
        out[sd["url"]] = (sd["name"], frozenset(bases))
    return out


def _profiled_child(
    elem: dict[str, Any], code: str, profiles: list[str], known: dict[str, tuple[str, frozenset[str]]]
) -> str:
    """The node an element's ``type[].profile`` selects for type ``code`` ("" when none)."""
    if not profiles:
        return ""
    if len(profiles) != 1:
        raise SystemExit(f"{elem['path']}: several profiles on type {code} (any-of) are not supported")
    profile = profiles[0].split("|")[0]
    if profile not in known or code not in known[profile][1]:
        raise SystemExit(f"{elem['path']}: type {code} profiled by unknown or unrelated {profile}")
    name = known[profile][0]
    return "" if name == code else name


def _type_code(sd: dict[str, Any], elem: dict[str, Any], code: str) -> str:
    if not code.startswith("http://hl7.org/fhirpath/System."):
        return code
    path = elem["path"]
    if sd["kind"] == "resource" and path == f"{sd['type']}.id":
        return "id"
    if path == "Extension.url":
        return "uri"
    return "string"


def build() -> tuple[dict[str, tuple[list[str], list[str]]], set[str]]:
    """Per node: its invariant keys and one encoded line per element; the required value sets used."""
    structures = _structures()
    known = _profile_nodes()
    nodes: dict[str, tuple[list[str], list[str]]] = {}
    used_value_sets: set[str] = set()
    for sd in structures:
        elements = sd["elements"]
        paths = {e["path"] for e in elements}
        root = elements[0]
        nodes[sd["name"]] = (sorted(set(root.get("constraint", [])) - NATIVE), [])
        for elem in elements[1:]:
            path: str = elem["path"]
            parent, _, name = path.rpartition(".")
            if parent == root["path"]:
                parent = sd["name"]
            own_invariants: set[str] = set(elem.get("constraint", [])) - NATIVE
            types: list[str]
            if "contentReference" in elem:
                types = ["BackboneElement=" + elem["contentReference"].lstrip("#")]
            else:
                types = []
                for t in elem.get("type", []):
                    code = _type_code(sd, elem, t["code"])
                    if code in ("BackboneElement", "Element") and any(p.startswith(path + ".") for p in paths):
                        nodes[path] = (sorted(own_invariants), [])
                        own_invariants = set()
                        code = f"{code}={path}"
                    elif profiled := _profiled_child(elem, code, t.get("profile", []), known):
                        code = f"{code}={profiled}"
                    types.append(code)
            targets: set[str] = set()
            for t in elem.get("type", []):
                if t["code"] == "Reference":
                    targets.update(p.removeprefix(SD_PREFIX) for p in t.get("targetProfile", []))
            binding = elem.get("binding", {})
            vs = "-"
            if binding.get("strength") == "required":
                vs = binding["valueSet"].split("|")[0]
                used_value_sets.add(vs)
            fields = [
                name,
                str(elem["min"]),
                elem["max"],
                ",".join(types),
                vs,
                ",".join(sorted(targets)) or "-",
                ",".join(sorted(own_invariants)) or "-",
            ]
            nodes[parent][1].append(" ".join(fields))
    return nodes, used_value_sets


def emit() -> dict[str, str]:
    nodes, used = build()
    value_sets_in = load("required-value-sets.json")
    value_sets: dict[str, dict[str, tuple[str, ...]]] = {}
    for url in sorted(used):
        by_system: dict[str, set[str]] = {}
        for system, code in value_sets_in.get(url, {}).get("codes", []):
            by_system.setdefault(system, set()).add(code)
        value_sets[url] = {s: tuple(sorted(c)) for s, c in sorted(by_system.items())}
    constraints = {
        key: (c["severity"], c["human"]) for key, c in sorted(load("structure-definitions.json")["constraints"].items())
    }
    out = [
        header("codegen/validation_tables.py", "structure-definitions.json", "required-value-sets.json"),
        '"""R4 element tables for clinikfhir.validation: structure, required bindings, targets, invariants.',
        "",
        "NODES[node] = (node invariant keys, element lines). One line per element, fields separated by",
        "spaces: name (``[x]`` for choices), min, max (``*``), types (comma-separated; ``Type=node`` when",
        "the children are described by another node, a backbone path), required value set url, reference",
        "target types, the element's own invariant keys (``-`` for none). Decoded lazily per node by",
        "clinikfhir._structure._schema. ele-1 and ext-1 are checked natively and not listed. A type",
        "``Quantity=SimpleQuantity`` is an element whose type carries the SimpleQuantity profile.",
        '"""',
        "",
        "from typing import Final",
        "",
        "NODES: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {",
    ]
    for name in sorted(nodes):
        inv, lines = nodes[name]
        out.append(f"    {name!r}: ({tuple(inv)!r}, (")
        out.extend(f"        {line!r}," for line in lines)
        out.append("    )),")
    out.append("}")
    out.append("")
    out.append("# constrained datatype node -> its FHIR type (the type FHIRPath sees)")
    out.append("NODE_TYPES: Final[dict[str, str]] = {")
    out.extend(f"    {sd['name']!r}: {sd['type']!r}," for sd in _structures() if sd["name"] != sd["type"])
    out.append("}")
    out.append("")
    out.append("# required value set url -> code system -> codes (the codes the package lists; the sandbox's")
    out.append("# :in/:not-in use them too). The validator does not check those in SKIPPED_VALUE_SETS.")
    out.append("VALUE_SETS: Final[dict[str, dict[str, tuple[str, ...]]]] = {")
    for url, systems in value_sets.items():
        out.append(f"    {url!r}: {{")
        for system, codes in systems.items():
            out.append(f"        {system!r}: {codes!r},")
        out.append("    },")
    out.append("}")
    out.append("")
    empty = sorted(url for url, systems in value_sets.items() if not systems)
    unexplained = [url for url in empty if url not in NOT_ENUMERABLE]
    if unexplained:
        raise SystemExit(f"required value sets with no codes and no reason to skip them: {unexplained}")
    out.append("# required value sets the validator cannot enumerate, so does not check: url -> why")
    out.append("SKIPPED_VALUE_SETS: Final[dict[str, str]] = {")
    out.extend(f"    {url!r}: {why!r}," for url, why in sorted(NOT_ENUMERABLE.items()) if url in value_sets)
    out.append("}")
    out.append("")
    out.append("# invariant key -> (severity, human-readable rule)")
    out.append("CONSTRAINTS: Final[dict[str, tuple[str, str]]] = {")
    for key, value in constraints.items():
        out.append(f"    {key!r}: {value!r},")
    out.append("}")
    out.append("")
    return {f"{GENERATED}/validation_schema.py": "\n".join(out)}
