"""Refresh the vendored FHIR R4 inputs from the official examples package.

This is the only code that reads the upstream package, and only when a developer runs
``python -m codegen.vendor PATH/TO/hl7.fhir.r4.examples-4.0.1.tgz`` by hand. It writes compact,
sorted, deterministic extracts into ``codegen/data/`` and the test corpus into ``tests/corpus/``,
and records every sha256 in ``codegen/data/MANIFEST.json``. Generation and CI read only those.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

SOURCE_NAME = "hl7.fhir.r4.examples-4.0.1.tgz"
SOURCE_SHA256 = "dce87f1b5b9341867033f7d1f544fa1b5232503f6d62813887ac6b8a8b6cb682"

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "codegen" / "data"
CORPUS = ROOT / "tests" / "corpus" / "r4-examples-4.0.1.zip"

# Aggregate bundles that hold definitions, not instance examples.
AGGREGATES = (
    "Bundle-conceptmaps.json",
    "Bundle-dataelements.json",
    "Bundle-extensions.json",
    "Bundle-externals.json",
    "Bundle-profiles-others.json",
    "Bundle-resources.json",
    "Bundle-searchParams.json",
    "Bundle-terminologies.json",
    "Bundle-types.json",
    "Bundle-v2-valuesets.json",
    "Bundle-v3-valuesets.json",
    "Bundle-valueset-expansions.json",
    "Bundle-valuesets.json",
)

SEARCH_PARAM_FIELDS = (
    "id",
    "url",
    "name",
    "code",
    "base",
    "type",
    "expression",
    "xpathUsage",
    "target",
    "comparator",
    "modifier",
    "multipleOr",
    "multipleAnd",
    "chain",
    "component",
    "description",
)


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]


def _search_parameters(files: dict[str, bytes]) -> list[dict[str, Any]]:
    out = []
    for sp in _entries(json.loads(files["Bundle-searchParams.json"])):
        if sp.get("resourceType") != "SearchParameter":
            continue
        out.append({k: sp[k] for k in SEARCH_PARAM_FIELDS if k in sp})
    return sorted(out, key=lambda s: (s["code"], s["id"]))


def _structure_definitions(files: dict[str, bytes]) -> dict[str, Any]:
    """Snapshot elements of every resource and datatype, with a shared constraint table."""
    constraints: dict[str, dict[str, str]] = {}
    types: list[dict[str, Any]] = []
    for name in ("Bundle-types.json", "Bundle-resources.json"):
        for sd in _entries(json.loads(files[name])):
            if sd.get("resourceType") != "StructureDefinition":
                continue
            elements = []
            for el in sd.get("snapshot", {}).get("element", []):
                item: dict[str, Any] = {"path": el["path"], "min": el.get("min", 0), "max": el.get("max", "*")}
                if "type" in el:
                    item["type"] = [
                        {k: t[k] for k in ("code", "targetProfile", "profile") if k in t} for t in el["type"]
                    ]
                if "contentReference" in el:
                    item["contentReference"] = el["contentReference"]
                b = el.get("binding")
                if b and "valueSet" in b:
                    item["binding"] = {"strength": b["strength"], "valueSet": b["valueSet"]}
                keys = []
                for c in el.get("constraint", []):
                    keys.append(c["key"])
                    entry = {k: c[k] for k in ("key", "severity", "expression", "human") if k in c}
                    # A few keys (inv-1, ...) are reused by unrelated resources with other rules:
                    # those get a qualified table id, "<key>@<StructureDefinition name>".
                    cid = c["key"]
                    if constraints.setdefault(cid, entry) != entry:
                        cid = f"{c['key']}@{sd['name']}"
                        constraints.setdefault(cid, entry)
                    keys[-1] = cid
                if keys:
                    item["constraint"] = sorted(set(keys))
                if el.get("isModifier"):
                    item["isModifier"] = True
                elements.append(item)
            types.append(
                {
                    "name": sd["name"],
                    "type": sd["type"],
                    "kind": sd["kind"],
                    "abstract": sd.get("abstract", False),
                    "derivation": sd.get("derivation"),
                    "baseDefinition": sd.get("baseDefinition"),
                    "url": sd["url"],
                    "elements": elements,
                }
            )
    types.sort(key=lambda t: t["url"])
    return {"constraints": dict(sorted(constraints.items())), "structureDefinitions": types}


def _required_value_sets(files: dict[str, bytes], sds: dict[str, Any]) -> dict[str, Any]:
    """Codes of every value set used by a required binding: from the expansion when there is one."""
    wanted = sorted(
        {
            el["binding"]["valueSet"].split("|")[0]
            for sd in sds["structureDefinitions"]
            for el in sd["elements"]
            if el.get("binding", {}).get("strength") == "required"
        }
    )
    expansions = {vs["url"]: vs for vs in _entries(json.loads(files["Bundle-valueset-expansions.json"]))}
    definitions = {r["url"]: r for r in _entries(json.loads(files["Bundle-valuesets.json"])) if "url" in r}
    codesystems = {u: r for u, r in definitions.items() if r["resourceType"] == "CodeSystem"}

    def flatten(contains: list[dict[str, Any]], acc: list[list[str]]) -> None:
        for c in contains:
            if "code" in c and not c.get("abstract"):
                acc.append([c.get("system", ""), c["code"]])
            flatten(c.get("contains", []), acc)

    def cs_codes(concepts: list[dict[str, Any]], system: str, acc: list[list[str]]) -> None:
        for c in concepts:
            acc.append([system, c["code"]])
            cs_codes(c.get("concept", []), system, acc)

    out: dict[str, Any] = {}
    for url in wanted:
        codes: list[list[str]] = []
        source = "expansion"
        if url in expansions:
            flatten(expansions[url].get("expansion", {}).get("contains", []), codes)
        elif url in definitions:
            source = "compose"
            for inc in definitions[url].get("compose", {}).get("include", []):
                system = inc.get("system", "")
                if "concept" in inc:
                    codes.extend([system, c["code"]] for c in inc["concept"])
                elif system in codesystems:
                    cs_codes(codesystems[system].get("concept", []), system, codes)
        else:
            source = "unknown"
        out[url] = {"source": source, "codes": sorted({tuple(c) for c in codes})}
    return out


# Bases whose elements every resource, datatype and backbone element repeats, in lookup order.
_RESOURCE_BASES = ("DomainResource", "Resource")
_ELEMENT_BASES = ("BackboneElement", "Element")


def inherited_short(shorts: dict[str, dict[str, str]], kind: str, rel: str) -> str | None:
    """The short definition an element repeats from its base (``Element.id`` for ``contact.id``), if any.

    ``rel`` is the element path below its StructureDefinition's root; ``kind`` is that definition's
    kind. ``element-shorts.json`` leaves out every element whose short is exactly this one.
    """
    name = rel.rsplit(".", 1)[-1]
    bases = _RESOURCE_BASES if kind == "resource" and "." not in rel else _ELEMENT_BASES
    for base in bases:
        if name in shorts.get(base, {}):
            return shorts[base][name]
    return None


def _element_shorts(files: dict[str, bytes]) -> dict[str, Any]:
    """Short definitions: {type: {"": root short, relative path: short}}, inherited repeats left out."""
    shorts: dict[str, dict[str, str]] = {}
    kinds: dict[str, str] = {}
    for name in ("Bundle-types.json", "Bundle-resources.json"):
        for sd in _entries(json.loads(files[name])):
            if sd.get("resourceType") != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            if sd["kind"] not in ("resource", "complex-type"):
                continue
            own: dict[str, str] = {}
            for el in sd.get("snapshot", {}).get("element", []):
                if "short" in el:
                    own[el["path"].partition(".")[2]] = " ".join(el["short"].split())
            shorts[sd["type"]], kinds[sd["type"]] = own, sd["kind"]
    for type_name, own in shorts.items():
        if type_name in _RESOURCE_BASES + _ELEMENT_BASES:
            continue
        for rel in [r for r in own if r and inherited_short(shorts, kinds[type_name], r) == own[r]]:
            del own[rel]
    return {t: dict(sorted(own.items())) for t, own in sorted(shorts.items())}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    raw = Path(argv[0]).read_bytes()
    if _sha256(raw) != SOURCE_SHA256:
        print(f"{argv[0]}: sha256 does not match the pinned {SOURCE_NAME}", file=sys.stderr)
        return 1
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.startswith("package/") and m.name.endswith(".json"):
                f = tar.extractfile(m)
                assert f is not None
                files[m.name.removeprefix("package/")] = f.read()

    DATA.mkdir(parents=True, exist_ok=True)
    sds = _structure_definitions(files)
    outputs = {
        "search-parameters.json": _dump(_search_parameters(files)),
        "structure-definitions.json": _dump(sds),
        "required-value-sets.json": _dump(_required_value_sets(files, sds)),
        "compartment-patient.json": _dump(json.loads(files["CompartmentDefinition-patient.json"])),
        "element-shorts.json": _dump(_element_shorts(files)),
    }
    manifest: dict[str, Any] = {
        "source": {"name": SOURCE_NAME, "sha256": SOURCE_SHA256, "license": "CC0-1.0"},
        "files": {},
    }
    for name, data in sorted(outputs.items()):
        (DATA / name).write_bytes(data)
        manifest["files"][f"codegen/data/{name}"] = _sha256(data)

    # Test corpus: every instance example that is not part of a definitions bundle, byte for byte.
    in_aggregates = set()
    for name in AGGREGATES:
        for r in _entries(json.loads(files[name])):
            in_aggregates.add((r.get("resourceType"), r.get("id")))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            if name == "package.json" or name in AGGREGATES:
                continue
            res = json.loads(files[name])
            if (res.get("resourceType"), res.get("id")) in in_aggregates:
                continue
            info = zipfile.ZipInfo(name, date_time=(1985, 10, 26, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    CORPUS.write_bytes(buf.getvalue())
    manifest["files"]["tests/corpus/r4-examples-4.0.1.zip"] = _sha256(buf.getvalue())
    (DATA / "MANIFEST.json").write_bytes(_dump(manifest))
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
