"""The validator: one walk over the raw JSON against the R4 StructureDefinitions.

Judged on the JSON, not on a model (fhir.resources coerces ``"yes"`` to a boolean and knows only
R4B), so R4-only resource types are validated the same way. Per element it checks: known element,
JSON shape (array or single value), cardinality, primitive type and R4 format (the structural walk
of ``clinikfhir._structure``, below the models, which strict reads share), then here the required
code binding, reference target type, and the invariants of the element and of its datatype.
"""

from __future__ import annotations

import importlib
import json
import re
import warnings
from collections.abc import Collection, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, cast

# a module import (attributes read at call time): the generated module imports our runtime helpers
import clinikfhir._generated.invariants as _invariants
from clinikfhir._generated.resource_types import RESOURCE_TYPES
from clinikfhir._generated.validation_schema import CONSTRAINTS
from clinikfhir._issues import Issue, Severity
from clinikfhir._public import shown_as_root
from clinikfhir._structure import Field, StructureWalker, allowed_codes, check_xhtml, value_set_codes, walk_resource

from ._fast import WARNING_ONLY, clean_issues

if TYPE_CHECKING:
    from clinikfhir.models import Resource

Level = Literal["error", "warning", "information"]
_Problem = tuple[str, str, str, str]  # (issue code, path suffix, message, rule key)

_LEVELS = ("error", "warning", "information")
_RANK: dict[str, int] = {"fatal": 0, "error": 1, "warning": 2, "information": 3}
_RELATIVE = re.compile(r"([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?")
_CONDITIONAL = re.compile(r"([A-Z][A-Za-z]+)\?\S+")
# rules on a DomainResource's contained resources (dom-2 contained.contained.empty(), dom-4 no
# contained.meta.versionId/lastUpdated, dom-5 no contained.meta.security): true when there are none
_ABOUT_CONTAINED = frozenset({"dom-2", "dom-3", "dom-4", "dom-5"})
# invariants of severity warning (dom-6, con-3, ...): not evaluated when only errors are asked for
_WARNING_ONLY = WARNING_ONLY
_ABSOLUTE_TAIL = re.compile(r"/([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def validate(
    resource: Resource | dict[str, Any],
    *,
    level: Level = "warning",
    ignore: Collection[str] = (),
) -> list[Issue]:
    """Every problem in ``resource`` (a model or its JSON dict), as issues with element paths.

    ``level`` is the severity policy: ``"error"`` returns only blocking issues (error, fatal),
    ``"warning"`` (the default) adds warnings such as ``dom-6`` (no narrative), ``"information"``
    returns everything. ``ignore`` names rule keys to leave out (e.g. ``{"dom-6"}``). Whatever the
    policy, only issues of severity error or fatal should block a write (see :func:`has_errors`).
    The function is pure: it reads ``resource`` and returns a new list.
    """
    if level not in _LEVELS:
        raise ValueError(f"level must be one of {', '.join(_LEVELS)}")
    data = _as_json(resource)
    # invariants whose every issue the policy would drop are not evaluated (the answer is the same)
    skip = _WARNING_ONLY if level == "error" else frozenset[str]()
    walker = _Walker(skip=skip, ignore=frozenset(ignore))
    known = clean_issues(walker, data, skip)  # the usual case: nothing (or dom-6) to report, known at once
    if known is not None:
        walker.issues = known
    else:
        walker = _Walker(skip=skip, ignore=frozenset(ignore))
        walk_resource(walker, data)
    if walker.unevaluated and not any(i.is_error for i in walker.issues):
        # A rule that could not run on an otherwise valid resource may be letting an invalid one
        # through: say so loudly. (With other errors the write is refused anyway, and malformed
        # JSON is a likely cause.) The test suite turns this warning into an error.
        for rule, kind in dict.fromkeys(walker.unevaluated):
            warnings.warn(InvariantNotEvaluatedWarning(rule, kind), stacklevel=2)
    limit = _RANK[level]
    return [i for i in walker.issues if _RANK[i.severity] <= limit and i.key not in ignore]


class InvariantNotEvaluatedWarning(UserWarning):
    """An invariant raised instead of answering, on a resource with no other error: the rule was not
    checked (a bug in its compiled form or in the evaluator). ``rule`` is its key (``obs-6``).

    :func:`validate` also reports a warning-level :class:`Issue` with the rule key. Turn the warning
    into an error to make such a rule fail loudly, as clinikfhir's own test suite does (pytest:
    ``filterwarnings = ["error::clinikfhir.validation.InvariantNotEvaluatedWarning"]``).
    """

    def __init__(self, rule: str, exception: str) -> None:
        super().__init__(f"invariant {rule} could not be evaluated ({exception}); the rule was not checked")
        self.rule = rule
        self.exception = exception


def _as_json(resource: Any) -> Any:
    if isinstance(resource, dict) or not hasattr(resource, "model_dump"):
        return resource  # pyright: ignore[reportUnknownVariableType]
    from clinikfhir import models

    if isinstance(resource, models.GenericResource):
        return resource.raw
    text: str = cast(Any, models).dump(resource)
    return json.loads(text)


class _Walker(StructureWalker):
    """The structural walk plus the validator's rules: required bindings, reference targets,
    ``dom-3`` and the invariants (compiled, native or through fhirpathpy)."""

    __slots__ = ("full_urls", "ignore", "skip", "unevaluated")

    def __init__(self, *, skip: frozenset[str] = frozenset(), ignore: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.full_urls: dict[str, str] = {}
        self.unevaluated: list[tuple[str, str]] = []  # (rule key, exception type) of invariants that raised
        self.skip = skip  # invariant keys (``inv-1@Task``) not evaluated: only warnings, and errors not wanted
        self.ignore = ignore  # rule keys (``inv-1``) not evaluated: their issues are dropped anyway

    # -- resources ---------------------------------------------------------------------------------

    def resource(
        self, data: dict[str, Any], path: str, root: dict[str, Any] | None, parent: dict[str, Any] | None
    ) -> str | None:
        if data.get("resourceType") == "Bundle":
            self._index_bundle(data)
        walked = super().resource(data, path, root, parent)
        if walked is not None and "contained" in data:
            self._dom3(data, walked)
        return walked

    def _index_bundle(self, bundle: dict[str, Any]) -> None:
        entries = bundle.get("entry")
        if not isinstance(entries, list):
            return
        for entry in entries:  # pyright: ignore[reportUnknownVariableType]
            if isinstance(entry, dict):
                url = entry.get("fullUrl")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                res = entry.get("resource")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if isinstance(url, str) and isinstance(res, dict):
                    rt = res.get("resourceType")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                    if isinstance(rt, str):
                        self.full_urls[url] = rt

    def _dom3(self, data: dict[str, Any], path: str) -> None:
        """dom-3: every contained resource is referenced from elsewhere in the resource (or via '#')."""
        refs: set[str] = set()
        _collect_local_refs(data, refs)
        if "#" in refs:
            return
        contained = data.get("contained")
        if not isinstance(contained, list):
            return
        for i, res in enumerate(contained):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            if isinstance(res, dict) and "#" + str(res.get("id")) not in refs:  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                self.add("error", "invariant", f"{path}.contained[{i}]", _human("dom-3"), "dom-3")

    # -- the hooks of the structural walk ----------------------------------------------------------

    def code_binding(self, code: str, url: str, path: str) -> None:
        codes = value_set_codes(url)
        if codes is not None and code not in codes[1]:
            self.add("error", "code-invalid", path, _not_allowed("code is not in", url, systems=False), "binding")

    def element_rules(self, value: dict[str, Any], field: Field, path: str, root: dict[str, Any]) -> None:
        for code, suffix, message, key in self.element_problems(value, field, root):
            self.add("error", code, path + suffix, message, key)

    def element_problems(self, value: dict[str, Any], field: Field, root: dict[str, Any]) -> list[_Problem]:
        """The binding and reference problems of the complex element ``value``: ``(issue code, path
        suffix, message, rule key)``; empty when it is fine."""
        out: list[_Problem] = []
        element = field.element
        if element.value_set:
            if field.type == "CodeableConcept":
                self._concept_binding(value, element.value_set, out)
            elif field.type == "Coding":
                self._coding_binding(value, element.value_set, out)
        if element.targets and field.type == "Reference":
            self._reference(value, element.targets, root, out)
        return out

    # -- bindings ----------------------------------------------------------------------------------

    def _coding_ok(self, coding: dict[str, Any], pairs: frozenset[tuple[str, str]], bare: frozenset[str]) -> bool:
        code = coding.get("code")
        system = coding.get("system")
        if not isinstance(code, str):
            return False
        if isinstance(system, str):
            return (system, code) in pairs
        return code in bare

    def _coding_binding(self, coding: dict[str, Any], url: str, out: list[_Problem]) -> None:
        codes = value_set_codes(url)
        if codes is None or "code" not in coding:
            return
        if not self._coding_ok(coding, *codes):
            out.append(("code-invalid", "", _not_allowed("system and code are not in", url, systems=True), "binding"))

    def _concept_binding(self, concept: dict[str, Any], url: str, out: list[_Problem]) -> None:
        codes = value_set_codes(url)
        if codes is None:
            return
        codings = concept.get("coding")
        if isinstance(codings, list) and any(
            isinstance(c, dict) and self._coding_ok(c, *codes)  # pyright: ignore[reportUnknownArgumentType]
            for c in codings  # pyright: ignore[reportUnknownVariableType]
        ):
            return
        out.append(("code-invalid", "", _not_allowed("no coding from", url, systems=True), "binding"))

    # -- references --------------------------------------------------------------------------------

    def _reference(
        self, ref: dict[str, Any], targets: frozenset[str], root: dict[str, Any], out: list[_Problem]
    ) -> None:
        if "Resource" in targets:
            return
        rtype = ref.get("type")
        if isinstance(rtype, str) and rtype in RESOURCE_TYPES and rtype not in targets:
            out.append(("invalid", ".type", "reference type is not allowed here", "reference-target"))
        literal = ref.get("reference")
        if not isinstance(literal, str):
            return
        found = self._target_type(literal, root)
        if found is None:
            if ":" not in literal and not literal.startswith("#"):
                relative = _RELATIVE.fullmatch(literal) or _CONDITIONAL.fullmatch(literal)
                message = (
                    "not a valid literal reference (Type/id)"
                    if relative is None
                    else "the reference names no FHIR R4 resource type"
                )
                out.append(("invalid", ".reference", message, "reference"))
            return
        if found not in targets:
            allowed = "|".join(sorted(targets))
            out.append(("invalid", ".reference", f"reference target must be {allowed}", "reference-target"))

    def _target_type(self, literal: str, root: dict[str, Any]) -> str | None:
        if literal == "#":  # the container itself
            rt = root.get("resourceType")
            return rt if isinstance(rt, str) else None
        if literal.startswith("#"):
            contained = root.get("contained")
            if isinstance(contained, list):
                for res in contained:  # pyright: ignore[reportUnknownVariableType]
                    if isinstance(res, dict) and res.get("id") == literal[1:]:  # pyright: ignore[reportUnknownMemberType]
                        rt = res.get("resourceType")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                        return rt if isinstance(rt, str) else None
            return None
        if literal in self.full_urls:
            return self.full_urls[literal]
        if ":" not in literal:
            # Type/id[/_history/v], or a conditional reference of a transaction (Type?search)
            m = _RELATIVE.fullmatch(literal) or _CONDITIONAL.fullmatch(literal)
            return m.group(1) if m and m.group(1) in RESOURCE_TYPES else None
        if literal.startswith(("urn:uuid:", "urn:oid:")):
            return None
        m = _ABSOLUTE_TAIL.search(literal)
        return m.group(1) if m and m.group(1) in RESOURCE_TYPES else None

    # -- invariants --------------------------------------------------------------------------------

    def invariant(
        self, key: str, obj: Any, path: str, res: dict[str, Any], root: dict[str, Any], type_path: str
    ) -> None:
        if key in self.skip or (self.ignore and key.split("@")[0] in self.ignore):
            return
        if key in _ABOUT_CONTAINED and (key == "dom-3" or "contained" not in obj):
            return  # dom-3: checked once per resource by _dom3; the others hold when nothing is contained
        try:
            problems = self.invariant_problems(key, obj, res, root, type_path)
        except Exception as exc:  # reported (a warning issue naming the rule), never raised
            rule = key.split("@")[0]
            self.add("warning", "exception", path, f"invariant {rule} could not be evaluated", rule)
            self.unevaluated.append((rule, type(exc).__name__))
            return
        for severity, message, rule in problems:
            self.add(severity, "invariant", path, message, rule)

    def invariant_problems(
        self, key: str, obj: Any, res: dict[str, Any], root: dict[str, Any], type_path: str
    ) -> Sequence[tuple[Severity, str, str]]:
        """What the invariant ``key`` finds wrong with ``obj`` (of FHIRPath type ``type_path``):
        ``(severity, message, rule key)``, empty when it holds. Raises when it cannot be evaluated."""
        if key in ("txt-1", "txt-2") and not type_path:  # on the narrative's div (a primitive)
            if key == "txt-1":  # check_xhtml checks both
                return [("error", problem, "txt-1") for problem in check_xhtml(obj)]
            return ()
        if key == "ref-1":
            literal = obj.get("reference") if isinstance(obj, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if isinstance(literal, str) and len(literal) > 1 and literal[0] == "#":
                contained = root.get("contained")
                ids = {c.get("id") for c in contained if isinstance(c, dict)} if isinstance(contained, list) else set()  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                if literal[1:] not in ids:
                    return [("error", _human("ref-1"), "ref-1")]
            return ()
        if key == "ctm-1":
            # onBehalfOf.exists() implies (member.resolve().iif(empty(), true, ofType(Practitioner).exists()))
            member = obj.get("member") if isinstance(obj, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            literal = member.get("reference") if isinstance(member, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if "onBehalfOf" in obj and isinstance(literal, str):
                found = self._target_type(literal, root)
                if found is not None and found != "Practitioner":
                    return [("error", _human(key), key)]
            return ()
        fn = _invariants.COMPILED.get(key)
        if fn is not None:
            result = fn([obj], res, root)
        elif key in _invariants.FALLBACK:
            result = evaluate_with_fhirpathpy(_invariants.FALLBACK[key], obj, res, root, type_path)
        else:
            return ()
        if result == [False]:
            severity: Severity = "warning" if CONSTRAINTS[key][0] == "warning" else "error"
            return [(severity, _human(key), key.split("@")[0])]
        return ()


def _not_allowed(problem: str, url: str, *, systems: bool) -> str:
    return f"{problem} the required value set {url} (allowed: {allowed_codes(url, systems=systems)})"


def _collect_local_refs(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        if value.startswith("#"):
            out.add(value)
    elif isinstance(value, dict):
        for v in value.values():  # pyright: ignore[reportUnknownVariableType]
            _collect_local_refs(v, out)
    elif isinstance(value, list):
        for v in value:  # pyright: ignore[reportUnknownVariableType]
            _collect_local_refs(v, out)


@cache
def _human(key: str) -> str:
    return CONSTRAINTS[key][1] if key in CONSTRAINTS else key


@cache
def _compiled_fallback(expression: str) -> Any:
    """fhirpathpy's compiled form of an expression (parsed once), with the R4 model for choices."""
    fhirpathpy: Any = importlib.import_module("fhirpathpy")
    r4: Any = importlib.import_module("fhirpathpy.models").models["r4"]
    return fhirpathpy.compile(expression, r4)


def evaluate_with_fhirpathpy(
    expression: str, obj: Any, res: dict[str, Any], root: dict[str, Any], type_path: str
) -> list[Any]:
    """Evaluate a FHIRPath expression with fhirpathpy on ``obj`` (of type ``type_path``)."""
    nodes: Any = importlib.import_module("fhirpathpy.engine.nodes")
    fn = _compiled_fallback(expression)
    focus = nodes.ResourceNode.create_node(obj, type_path) if type_path and "resourceType" not in obj else obj
    out: list[Any] = fn(focus, {"resource": res, "rootResource": root})
    return out


shown_as_root(validate)  # shown as clinikfhir.validate, its public name
