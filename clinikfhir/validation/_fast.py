"""The validator's fast pass: is a resource clean, with nothing at all to report?

Most resources a load writes are valid. For them the full walk (``_Walker``) builds every element's
path, tracks which elements it has seen and dispatches per node, only to report nothing. This pass
walks the same JSON against per-type plans compiled once from the same R4 element tables (per JSON
key: cardinality, the primitive's predicate, the required value set's codes, the invariants left
after the policy's skips; per node: the keys that satisfy each required element), builds no path,
and stops at the first thing that could be an issue (raising :class:`_Dirty`). Its answer is one bit:
``True`` only when the full walk would report no issue at all, so :func:`validate` can return ``[]``
at once; on anything else (an issue, an invariant that raised, a ``contained`` resource, a shape it
does not handle) the full walk runs and gives the answer, paths and order as before. Being
conservative (saying "not clean" for a clean resource) costs time, never correctness: the tests
check that every resource it calls clean gets no issue from the full walk (the official examples,
the mutation corpus and generated resources).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import clinikfhir._generated.invariants as _invariants
from clinikfhir._generated.resource_types import RESOURCE_TYPES
from clinikfhir._generated.validation_schema import CONSTRAINTS
from clinikfhir._issues import Issue
from clinikfhir._structure import Field, node, primitive_ok, value_set_codes

if TYPE_CHECKING:
    from ._validate import _Walker  # pyright: ignore[reportPrivateUsage]

# dom-2/4/5 hold on a resource with nothing contained, dom-3 is checked per resource: a resource with
# ``contained`` goes to the full walk, so these are never evaluated here
_ABOUT_CONTAINED = frozenset({"dom-2", "dom-3", "dom-4", "dom-5"})
# invariants the full walk evaluates natively: through ``_Walker.invariant_problems``
_NATIVE = frozenset({"txt-1", "txt-2", "ref-1", "ctm-1"})

# invariants whose failure is a warning: on the resource walked, reported without the full walk
WARNING_ONLY = frozenset(key for key, (severity, _) in CONSTRAINTS.items() if severity == "warning")

_Invariant = tuple[str, Callable[[list[Any], Any, Any], list[Any]] | None]


class _Dirty(Exception):
    """Something the full walk would (or might) report: leave it the answer."""


# what the fast pass does with one value of a field
_PLAIN = 0  # a primitive: its predicate only
_PRIMITIVE = 1  # a primitive with a required code binding or invariants
_NODE = 2  # a complex element: its node only
_COMPLEX = 3  # a complex element with bindings, reference targets or invariants
_RESOURCE = 4  # an embedded resource


class _FieldPlan:
    """One JSON key of a node, as the fast pass needs it."""

    __slots__ = ("child", "choice", "codes", "field", "invariants", "kind", "max", "name", "ok", "plan", "rules")

    def __init__(self, field: Field, invariants: tuple[_Invariant, ...]) -> None:
        element = field.element
        self.field = field
        self.choice = field.choice
        self.name = element.name
        self.max = element.max
        self.child = field.child  # "" for a primitive
        self.ok: Callable[[Any], bool] = primitive_ok(field.type) if not field.child else _never
        codes = value_set_codes(element.value_set) if element.value_set and field.type == "code" else None
        self.codes: frozenset[str] | None = codes[1] if codes is not None else None
        self.rules = bool(field.child and (element.value_set or element.targets))
        self.invariants = invariants
        self.plan: _NodePlan | None = None  # the child's node, resolved on first use
        if not field.child:
            self.kind = _PRIMITIVE if self.codes is not None or invariants else _PLAIN
        elif field.child == "Resource":
            self.kind = _RESOURCE
        else:
            self.kind = _COMPLEX if self.rules or invariants else _NODE


def _never(value: Any) -> bool:
    return False


def _ref_1(focus: list[Any], res: Any, root: Any) -> list[Any]:
    """ref-1 where the container has nothing contained (the only resources this pass walks): a
    local reference ``#id`` cannot resolve (``#`` alone is the container itself)."""
    literal = focus[0].get("reference") if focus[0].__class__ is dict else None
    return [not (isinstance(literal, str) and len(literal) > 1 and literal[0] == "#")]


def _with_shortcut(key: str, compiled: Callable[[list[Any], Any, Any], list[Any]] | None) -> Any:
    """The compiled invariant, first asking its shortcut (if it has one) whether it surely holds."""
    holds = SHORTCUTS.get(key)
    if holds is None or compiled is None:
        return compiled
    slow = compiled

    def fn(focus: list[Any], res: Any, root: Any) -> list[Any]:
        return [True] if holds(focus[0], res) else slow(focus, res, root)

    return fn


def _entries(bundle: Any) -> list[dict[str, Any]] | None:
    """A Bundle's entries when they are a non-empty array of objects, else None (no shortcut)."""
    entries = bundle.get("entry")
    if entries.__class__ is not list or not entries or any(e.__class__ is not dict for e in entries):
        return None
    return entries  # pyright: ignore[reportReturnType]


def _bdl_3(bundle: Any, res: Any) -> bool:
    # entry.all(request.exists() = (%resource.type = 'batch' or ... 'transaction' or ... 'history'))
    entries = _entries(bundle)
    return (
        entries is not None
        and res.get("type") in ("batch", "transaction", "history")
        and all(e.get("request").__class__ is dict for e in entries)
    )


def _bdl_4(bundle: Any, res: Any) -> bool:
    # entry.all(response.exists() = (%resource.type = 'batch-response' or ...-response or 'history'))
    entries = _entries(bundle)
    kind = res.get("type")
    return (
        entries is not None
        and isinstance(kind, str)
        and kind not in ("batch-response", "transaction-response", "history")
        and all(e.get("response") is None and e.get("_response") is None for e in entries)
    )


def _bdl_5(entry: Any, res: Any) -> bool:
    # resource.exists() or request.exists() or response.exists()
    return entry.get("resource").__class__ is dict or entry.get("request").__class__ is dict


def _bdl_7(bundle: Any, res: Any) -> bool:
    # (type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()
    entries = _entries(bundle)
    if entries is None:
        return False
    seen: set[str] = set()
    for entry in entries:
        url = entry.get("fullUrl")
        if "_fullUrl" in entry:
            return False
        if url is None:
            continue
        resource = entry.get("resource")
        if url.__class__ is not str or url in seen:
            return False
        if resource is not None:
            if resource.__class__ is not dict or "_meta" in resource:
                return False
            meta = resource.get("meta")
            if meta is not None and (meta.__class__ is not dict or "versionId" in meta or "_versionId" in meta):
                return False
        seen.add(url)
    return True


def _bdl_8(entry: Any, res: Any) -> bool:
    # fullUrl.contains('/_history/').not()
    url = entry.get("fullUrl")
    if url is None:
        return entry.get("_fullUrl") is None
    return url.__class__ is str and "/_history/" not in url


def _absent(obj: Any, name: str) -> bool:
    """No ``name`` child at all for FHIRPath: no key of ``obj`` so much as contains ``name`` (so no
    value, no ``_name`` extension, no ``name[x]`` choice such as ``nameQuantity``; a superset, which
    only makes the shortcut apply less often)."""
    return name not in "\x00".join(obj)


_DATETIME_OK = primitive_ok("dateTime")


def _ordered_datetimes(start: Any, end: Any) -> bool:
    """``start <= end`` surely true: two valid dateTimes written alike (the same length, so the same
    precision, and the same zone), lexically ordered, which is then their order in time (away from
    the first and last years, where shifting by the zone leaves the calendar, and leap seconds)."""
    return (
        isinstance(start, str)
        and isinstance(end, str)
        and len(start) == len(end) >= 16
        and start <= end
        and (start[-1] == end[-1] == "Z" or (start[-6] in "+-" and start[-6:] == end[-6:]))
        and start[:4] not in ("0001", "9999")
        and end[:4] not in ("0001", "9999")
        and ":60" not in start
        and ":60" not in end
        and _DATETIME_OK(start)
        and _DATETIME_OK(end)
    )


SHORTCUTS: dict[str, Callable[[Any, Any], bool]] = {
    "bdl-3": _bdl_3,
    "bdl-4": _bdl_4,
    "bdl-5": _bdl_5,
    "bdl-7": _bdl_7,
    "bdl-8": _bdl_8,
    # dataAbsentReason.empty() or value.empty()
    "obs-6": lambda o, res: _absent(o, "dataAbsentReason") or _absent(o, "value"),
    # value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()
    "obs-7": lambda o, res: _absent(o, "value") or _absent(o, "component"),
    # code.empty() or system.exists()
    "qty-3": lambda o, res: _absent(o, "code") or isinstance(o.get("system"), str),
    # value.empty() or system.exists()
    "cpt-2": lambda o, res: _absent(o, "value") or isinstance(o.get("system"), str),
    # abatement.empty() or clinicalStatus.coding.where(...resolved, remission or inactive).exists()
    "con-4": lambda o, res: _absent(o, "abatement"),
    # verificationStatus.coding.where(...entered-in-error).empty() or clinicalStatus.empty()
    "con-5": lambda o, res: _absent(o, "verificationStatus") or _absent(o, "clinicalStatus"),
    # start.hasValue().not() or end.hasValue().not() or (start <= end)
    "per-1": lambda o, res: (
        _absent(o, "start") or _absent(o, "end") or _ordered_datetimes(o.get("start"), o.get("end"))
    ),
}
"""Invariants with a native test of the usual case (those a load meets on every resource, and those
whose compiled form walks a whole Bundle): True means the invariant surely holds (so it is not
evaluated), False means "evaluate it". Each is checked against the compiled form by property tests
(never True where that form says false or raises)."""


class _NodePlan:
    """A node (resource, datatype, backbone element) compiled for the fast pass."""

    __slots__ = ("extension", "fields", "invariants", "required", "type")

    def __init__(self, fields: dict[str, _FieldPlan], required: tuple[tuple[str, ...], ...], spec_type: str) -> None:
        self.fields = fields
        self.required = required  # per required element: the JSON keys that carry it
        self.invariants: tuple[_Invariant, ...] = ()
        self.type = spec_type
        self.extension = False


class _Plans:
    """The compiled node plans for one set of skipped invariant keys, built on first use."""

    def __init__(self, skip: frozenset[str]) -> None:
        self.skip = skip
        self.nodes: dict[str, _NodePlan] = {}

    def invariants(self, keys: tuple[str, ...]) -> tuple[_Invariant, ...]:
        compiled = _invariants.COMPILED
        return tuple(
            (key, _ref_1 if key == "ref-1" else None if key in _NATIVE else _with_shortcut(key, compiled.get(key)))
            for key in keys
            if key not in self.skip and key not in _ABOUT_CONTAINED
        )

    def get(self, name: str) -> _NodePlan | None:
        plan = self.nodes.get(name)
        if plan is None:
            spec = node(name)
            if spec is None:
                return None
            fields = {key: _FieldPlan(f, self.invariants(f.element.invariants)) for key, f in spec.fields.items()}
            required = tuple(
                tuple(k for key, f in spec.fields.items() if f.element is element for k in (key, "_" + key))
                for element in spec.required
            )
            plan = _NodePlan(fields, required, spec.type)
            plan.invariants = self.invariants(spec.invariants)
            plan.extension = spec.name == "Extension"
            self.nodes[name] = plan
        return plan


@cache
def _plans(skip: frozenset[str]) -> _Plans:
    return _Plans(skip)


def clean_issues(walker: _Walker, data: Any, skip: frozenset[str]) -> list[Issue] | None:
    """The issues of the full walk of ``data`` (with a fresh ``walker`` like this one) when they are
    known without it: none, or only warnings of warning-only invariants of the resource itself (such
    as ``dom-6``, no narrative), which the full walk reports last, at the resource's path. None means
    "not known": walk it.

    ``walker`` is used for its Bundle index (``full_urls``) and its native rules; ``skip`` are the
    invariant keys the walk does not evaluate.
    """
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):  # pyright: ignore[reportUnknownMemberType]
        return None
    check = _Pass(walker, _plans(skip), data)  # pyright: ignore[reportUnknownArgumentType]
    try:
        check.resource(data, None)  # pyright: ignore[reportUnknownArgumentType]
    except Exception:  # _Dirty, or anything unexpected: the full walk gives the answer
        return None
    rtype = cast(str, data["resourceType"])  # pyright: ignore[reportUnknownMemberType]
    return [Issue("warning", "invariant", rtype, CONSTRAINTS[key][1], key.split("@")[0]) for key in check.warned]


class _Pass:
    __slots__ = ("element", "plans", "top", "walker", "warned")

    def __init__(self, walker: _Walker, plans: _Plans, top: dict[str, Any]) -> None:
        self.walker = walker
        self.plans = plans
        self.top = top  # the resource walked (its own warning-only invariants may fail)
        self.warned: list[str] = []  # its warning-only invariants that failed, in the walk's order
        element = plans.get("Element")
        assert element is not None
        self.element = element

    def resource(self, data: dict[str, Any], root: dict[str, Any] | None) -> None:
        rtype = data.get("resourceType")
        if not isinstance(rtype, str) or rtype not in RESOURCE_TYPES or "contained" in data:
            raise _Dirty
        plan = self.plans.get(rtype)
        if plan is None:  # pragma: no cover - every resource type has a node
            raise _Dirty
        if rtype == "Bundle":
            self.walker._index_bundle(data)  # pyright: ignore[reportPrivateUsage]
        self.node(data, plan, data, root if root is not None else data)

    def node(self, obj: dict[str, Any], plan: _NodePlan, res: dict[str, Any], root: dict[str, Any]) -> None:
        fields = plan.fields
        is_res = obj is res
        has_content = is_res  # ele-1 is a rule for elements, not for resources
        choices: dict[str, str] | None = None
        for key, value in obj.items():
            f = fields.get(key)
            if f is None:
                if key[:1] == "_":
                    base = fields.get(key[1:])
                    if base is None or base.child:
                        raise _Dirty
                    self.primitive_extension(obj, key, value, base, res, root)
                    has_content = True
                    if base.choice:
                        if choices is None:
                            choices = {}
                        if choices.setdefault(base.name, key[1:]) != key[1:]:
                            raise _Dirty
                    continue
                if key == "resourceType" and is_res:
                    continue
                raise _Dirty
            if key != "id":
                has_content = True
            if f.choice:
                if choices is None:
                    choices = {}
                if choices.setdefault(f.name, key) != key:
                    raise _Dirty
            max_ = f.max
            kind = f.kind
            if value.__class__ is list:
                if max_ == 1 or max_ == 0 or not value or len(value) > max_ > 1:  # (max -1 is *)
                    raise _Dirty
                if kind == _PLAIN:
                    ok = f.ok
                    for item in value:
                        if not ok(item):  # a null too (even one whose extension is in _name: rare)
                            raise _Dirty
                elif kind == _NODE:
                    child = f.plan or self.child_plan(f)
                    for item in value:
                        if item.__class__ is not dict:
                            raise _Dirty
                        self.node(item, child, res, root)
                else:
                    for item in value:
                        self.item(item, f, res, root)
            elif max_ != 1 or isinstance(value, list):  # (max 0 too)
                raise _Dirty
            elif kind == _PLAIN:
                if not f.ok(value):
                    raise _Dirty
            elif kind == _NODE:
                if value.__class__ is not dict:
                    raise _Dirty
                self.node(value, f.plan or self.child_plan(f), res, root)
            else:
                self.item(value, f, res, root)
        if not has_content:
            raise _Dirty
        for keys in plan.required:
            for k in keys:
                if k in obj:
                    break
            else:
                raise _Dirty
        if plan.extension:
            has_value = any(k.startswith("value") or k.startswith("_value") for k in obj)
            if ("extension" in obj) == has_value:
                raise _Dirty
        if plan.invariants:
            self.invariants(plan.invariants, obj, res, root, plan.type, obj is self.top)

    def child_plan(self, f: _FieldPlan) -> _NodePlan:
        plan = self.plans.get(f.child)
        if plan is None:  # pragma: no cover - every type code of R4 has a node
            raise _Dirty
        f.plan = plan
        return plan

    def item(self, value: Any, f: _FieldPlan, res: dict[str, Any], root: dict[str, Any]) -> None:
        """One value of a field that needs more than its predicate or its node."""
        kind = f.kind
        if kind <= _PRIMITIVE:
            if not f.ok(value):  # a null too
                raise _Dirty
            if f.codes is not None and value not in f.codes:
                raise _Dirty
            if f.invariants:
                self.invariants(f.invariants, value, res, root, "")
            return
        if value.__class__ is not dict:
            raise _Dirty
        if kind == _RESOURCE:
            if f.name == "contained":  # pragma: no cover - a resource with contained is not walked here
                raise _Dirty
            self.resource(value, None)
            return
        plan = f.plan or self.child_plan(f)
        self.node(value, plan, res, root)
        if f.rules and self.walker.element_problems(value, f.field, root):
            raise _Dirty
        if f.invariants:
            self.invariants(f.invariants, value, res, root, plan.type)

    def primitive_extension(
        self, obj: dict[str, Any], key: str, value: Any, base: _FieldPlan, res: dict[str, Any], root: dict[str, Any]
    ) -> None:
        if base.max == 0 and key[1:] not in obj:
            raise _Dirty
        element = self.element
        if value.__class__ is list:
            values = obj.get(key[1:])
            if values is not None and (values.__class__ is not list or len(values) != len(value)):
                raise _Dirty
            for item in value:
                if item is not None:
                    if item.__class__ is not dict:
                        raise _Dirty
                    self.node(item, element, res, root)
        elif value.__class__ is dict:
            self.node(value, element, res, root)
        else:
            raise _Dirty

    def invariants(
        self,
        invariants: tuple[_Invariant, ...],
        obj: Any,
        res: dict[str, Any],
        root: dict[str, Any],
        type_path: str,
        top: bool = False,
    ) -> None:
        for key, fn in invariants:
            if fn is not None:
                if fn([obj], res, root) != [False]:
                    continue
            elif not self.walker.invariant_problems(key, obj, res, root, type_path):
                continue
            if not (top and key in WARNING_ONLY and fn is not None):
                raise _Dirty
            self.warned.append(key)
