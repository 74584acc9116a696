"""The trusted read path and the lossless writer: models built and dumped from generated plans.

A response the server has already validated does not need pydantic to validate it again. For each
model class, codegen (``codegen/model_plans.py``) emits a plan: every JSON element with the field it
fills and how (nested model, list, polymorphic resource, primitive needing conversion). Here a plan
is compiled once per class, on first use, and :func:`build` fills a genuine fhir.resources instance
(``__dict__``, ``__pydantic_fields_set__``) directly, checking each JSON value's type on the way.
Anything that does not fit raises :class:`Mismatch` with the element path, so the caller can fall
back to full validation. Elements the R4B model has no field for (valid R4 it cannot hold) are kept
in the instance's ``__pydantic_extra__`` and written back by :func:`to_json`.

:func:`to_json` is the inverse: model -> JSON-ready tree (``Decimal`` digits kept as
:class:`orjson.Fragment`, dates and times in the text they were read from). :func:`dump_bytes`
writes the same JSON in one ``orjson.dumps`` call whose ``default`` hook turns one model level at
a time into a dict: orjson itself walks the lists and calls back for each nested model.
"""

from __future__ import annotations

import decimal
import functools
import importlib
import uuid
from collections.abc import Callable
from typing import Any, cast

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from clinikfhir._generated.model_index import MODEL_MODULES
from clinikfhir._generated.model_plans import PLAN_MODULES
from clinikfhir._generated.resource_types import R4_ONLY_TYPES

from . import _primitives as prim
from ._json import MARK, decimal_text, encode

K_STR, K_BOOL, K_INT, K_MODEL, K_RES, K_CONV, K_COMMENTS = range(7)
# dispatch codes of the build loop, most frequent first
C_STR, C_MODEL, C_LIST_MODEL, C_CONV, C_BOOL, C_INT, C_RES, C_LIST_RES, C_OTHER = range(9)
# dispatch codes of the writer, most frequent first
D_STR, D_MODEL, D_LIST_MODEL, D_PRIM, D_LIST_STR, D_LIST_PRIM, D_COMMENTS = range(7)
_SCALAR_KINDS = {
    "str": K_STR,
    "bool": K_BOOL,
    "int": K_INT,
    "model": K_MODEL,
    "resource": K_RES,
    "comments": K_COMMENTS,
}

_MARK_LEN = len(MARK)
_Decimal = decimal.Decimal


class Mismatch(Exception):
    """JSON that does not fit the plan; ``path`` is a list of keys/indexes from the innermost out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str | int] = []


def _adapter_converter(kind: str) -> Callable[[Any], Any]:
    from fhir.resources.R4B import fhirtypes

    annotation = {"url": fhirtypes.UrlType, "uuid": fhirtypes.UuidType}[kind]
    adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, annotation))

    def convert(value: Any) -> Any:
        if type(value) is not str:
            raise ValueError(f"expected a {kind} string")
        try:
            return adapter.validate_python(value)
        except ValidationError:
            raise ValueError(f"not a valid {kind}") from None

    return convert


def _decimal(value: Any) -> decimal.Decimal:
    if value.__class__ is float:
        if value - value == 0.0:  # finite: taken at its shortest exact text, as pydantic does
            return _Decimal(repr(value))
        raise ValueError("not a finite decimal")
    if type(value) is str and value.startswith(MARK):
        return decimal.Decimal(value[_MARK_LEN:])
    return prim.to_decimal(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "decimal": _decimal,
    "date": prim.to_date,
    "datetime": prim.to_datetime,
    "instant": prim.to_instant,
    "time": prim.to_time,
    "base64": prim.to_base64,
}


def _converter(kind: str) -> Callable[[Any], Any]:
    conv = _CONVERTERS.get(kind)
    if conv is None:
        conv = _CONVERTERS[kind] = _adapter_converter(kind)
    return conv


_new = object.__new__


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    """BaseModel's own slot descriptor's ``__set__`` (cheaper than object.__setattr__ by name).

    Should a pydantic release not have the slot, the setter raises; ``_versions`` sends reads
    through validation on such a release, so it is never called there.
    """
    descriptor = BaseModel.__dict__.get(name)
    setter: Callable[[Any, Any], None] | None = getattr(descriptor, "__set__", None)
    if setter is not None:
        return setter

    def missing(instance: Any, value: Any) -> None:
        raise RuntimeError(f"pydantic.BaseModel has no {name} slot: the trusted read path cannot be used")

    return missing


_SET_DICT = _slot_setter("__dict__")
_SET_FIELDS_SET = _slot_setter("__pydantic_fields_set__")
_SET_EXTRA = _slot_setter("__pydantic_extra__")
_SET_PRIVATE = _slot_setter("__pydantic_private__")


class Spec:
    """A compiled plan for one model class (compiled lazily on first use)."""

    __slots__ = ("cls", "defaults", "dump", "fields", "name", "order", "ready", "renamed", "rtype")

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False
        self.cls: Any = None
        self.rtype: str | None = None
        self.fields: dict[str, tuple[str, int, Any]] = {}
        self.order: dict[str, tuple[str, int, int]] = {}
        self.defaults: dict[str, Any] = {}
        self.renamed: frozenset[str] = frozenset()
        self.dump: dict[str, tuple[str, int]] = {}

    def compile(self) -> None:
        """Load the class and its generated plan; resolve nested classes to (lazy) specs."""
        plan_module = importlib.import_module(f"clinikfhir._generated.model_plans.{PLAN_MODULES[self.name]}")
        rtype, entries = plan_module.PLANS[self.name]
        self.cls = getattr(importlib.import_module(MODEL_MODULES[self.name]), self.name)
        fields: dict[str, tuple[str, int, Any]] = {}
        order: dict[str, tuple[str, int, int]] = {}
        for key, fname, kind_text, target in entries:
            lmode = 0
            if kind_text.startswith("list?:"):
                lmode, kind_text = 2, kind_text[6:]
            elif kind_text.startswith("list:"):
                lmode, kind_text = 1, kind_text[5:]
            kind = _SCALAR_KINDS.get(kind_text, K_CONV)
            arg: Any = None
            if kind == K_MODEL:
                arg = spec(target)
            elif kind == K_CONV:
                arg = _converter(kind_text)
            code = _code(kind, lmode)
            if code == C_LIST_MODEL:  # list(map(partial, items)) iterates in C, no comprehension frame
                arg = functools.partial(build, arg)
            fields[key] = (fname, code, (kind, lmode, arg) if code == C_OTHER else arg)
            order[fname] = (key, kind, lmode)
        self.fields = fields
        self.order = order
        self.dump = {fname: (key, _dump_code(kind, lmode)) for fname, (key, kind, lmode) in order.items()}
        # Built instances hold their fields in specification order, so they dump in that order.
        self.defaults = dict.fromkeys([*order, *(f for f in self.cls.model_fields if f not in order)])
        # JSON keys that are not their field's name (``_status`` -> ``status__ext``, ``class``)
        self.renamed = frozenset({"resourceType", *(k for k, (fname, _, _) in fields.items() if k != fname)})
        self.rtype = rtype
        self.ready = True


_SPECS: dict[str, Spec] = {}


def spec(name: str) -> Spec:
    """The (possibly not yet compiled) spec of the R4B class ``name``."""
    found = _SPECS.get(name)
    if found is None:
        if name not in PLAN_MODULES:
            raise KeyError(name)
        found = _SPECS[name] = Spec(name)
    return found


def _reason(exc: ValueError) -> str:
    """A converter's message (they never echo values); pydantic's ValidationError text holds the
    input, so only its first error's message is kept."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_input=False)
        return errors[0]["msg"] if errors else "not valid"
    return str(exc)


def _locate(items: list[Any], one: Callable[[Any], Any]) -> Mismatch:
    """Re-run a failed list conversion item by item to name the failing index."""
    for index, item in enumerate(items):
        try:
            one(item)
        except Mismatch as exc:
            exc.path.append(index)
            return exc
        except ValueError as exc:
            mismatch = Mismatch(_reason(exc))
            mismatch.path.append(index)
            return mismatch
    return Mismatch("invalid list")


def _check_str(value: Any) -> Any:
    if type(value) is not str:
        raise Mismatch("expected a string")
    return value


def _check_bool(value: Any) -> Any:
    if type(value) is not bool:
        raise Mismatch("expected true or false")
    return value


def _check_int(value: Any) -> Any:
    if type(value) is not int:
        raise Mismatch("expected an integer")
    return value


_CHECKS = {K_STR: _check_str, K_BOOL: _check_bool, K_INT: _check_int}


def _list(data: Any, kind: int, lmode: int, arg: Any) -> list[Any]:
    if data.__class__ is not list:
        raise Mismatch("expected a JSON array")
    value: list[Any] = data
    if kind == K_MODEL:
        one: Callable[[Any], Any] = (
            (lambda v: build(arg, v)) if lmode == 1 else (lambda v: None if v is None else build(arg, v))
        )
    elif kind == K_RES:
        one = resource if lmode == 1 else (lambda v: None if v is None else resource(v))
    elif kind == K_CONV:
        one = arg if lmode == 1 else (lambda v: None if v is None else arg(v))
    else:
        check = _CHECKS[kind]
        if lmode == 1:
            for item in value:
                if type(item) is not str or kind != K_STR:
                    check(item)
        else:
            for item in value:
                if item is not None and (type(item) is not str or kind != K_STR):
                    check(item)
        return list(value)
    try:
        return [one(v) for v in value]
    except (Mismatch, ValueError):
        raise _locate(value, one) from None


def _code(kind: int, lmode: int) -> int:
    if lmode == 0:
        return {K_STR: C_STR, K_MODEL: C_MODEL, K_CONV: C_CONV, K_BOOL: C_BOOL, K_INT: C_INT, K_RES: C_RES}.get(
            kind, C_OTHER
        )
    if lmode == 1 and kind == K_MODEL:
        return C_LIST_MODEL
    if lmode == 1 and kind == K_RES:
        return C_LIST_RES
    return C_OTHER


def _dump_code(kind: int, lmode: int) -> int:
    if lmode:
        if kind in (K_MODEL, K_RES):
            return D_LIST_MODEL
        return D_LIST_STR if kind == K_STR else D_LIST_PRIM
    if kind == K_STR:
        return D_STR
    if kind in (K_MODEL, K_RES):
        return D_MODEL
    return D_COMMENTS if kind == K_COMMENTS else D_PRIM


def _other(value: Any, kind: int, lmode: int, arg: Any) -> Any:
    if lmode:
        return _list(value, kind, lmode, arg)
    if type(value) is str:
        return value
    if value.__class__ is list:
        items: list[Any] = value
        if all(type(v) is str for v in items):
            return list(items)
    raise Mismatch("expected a string or a list of strings")  # fhir_comments


def build(sp: Spec, data: Any) -> Any:
    """Build an instance of ``sp``'s class from decoded JSON, without pydantic validation."""
    if data.__class__ is not dict:
        raise Mismatch("expected a JSON object")
    if not sp.ready:
        sp.compile()
    obj: dict[str, Any] = data
    fields = sp.fields
    values = sp.defaults.copy()  # every field, in specification order (as they dump)
    extra: dict[str, Any] | None = None
    key = ""
    try:
        for key, value in obj.items():
            f = fields.get(key)
            if f is None:
                if key == "resourceType" and sp.rtype is not None:
                    if value != sp.rtype:
                        raise Mismatch("resourceType does not match the expected type")
                    continue
                if extra is None:
                    extra = {}
                extra[key] = plain(value)
                continue
            fname, code, arg = f
            if value is None:
                values[fname] = None
            elif code == C_STR:
                if type(value) is not str:
                    raise Mismatch("expected a string")
                values[fname] = value
            elif code == C_MODEL:
                values[fname] = build(arg, value)
            elif code == C_LIST_MODEL:
                if value.__class__ is not list:
                    raise Mismatch("expected a JSON array")
                items: list[Any] = value
                one: Callable[[Any], Any] = arg
                try:
                    values[fname] = list(map(one, items))
                except Mismatch:
                    raise _locate(items, one) from None
            elif code == C_CONV:
                values[fname] = arg(value)
            elif code == C_BOOL:
                if type(value) is not bool:
                    raise Mismatch("expected true or false")
                values[fname] = value
            elif code == C_INT:
                if type(value) is not int:
                    raise Mismatch("expected an integer")
                values[fname] = value
            elif code == C_RES:
                values[fname] = resource(value)
            elif code == C_LIST_RES:
                if value.__class__ is not list:
                    raise Mismatch("expected a JSON array")
                try:
                    values[fname] = [resource(item) for item in value]
                except Mismatch:
                    raise _locate(value, resource) from None
            else:
                values[fname] = _other(value, *arg)
    except Mismatch as exc:
        exc.path.append(key)
        raise
    except ValueError as exc:
        mismatch = Mismatch(_reason(exc))
        mismatch.path.append(key)
        raise mismatch from None
    # The fields set are the JSON keys, renamed where the key is not the field name, less the
    # resourceType and the kept extras (the common case is one C-level set construction).
    fields_set = set(obj)
    if not sp.renamed.isdisjoint(fields_set):
        for k in sp.renamed.intersection(fields_set):
            fields_set.discard(k)
            f = fields.get(k)
            if f is not None:
                fields_set.add(f[0])
    if extra is not None:
        fields_set.difference_update(extra)
    inst = _new(sp.cls)
    _SET_DICT(inst, values)
    _SET_FIELDS_SET(inst, fields_set)
    _SET_EXTRA(inst, extra)
    _SET_PRIVATE(inst, None)
    return inst


def resource(data: Any) -> Any:
    """Build any resource, chosen by its ``resourceType`` (R4-only types -> ``GenericResource``)."""
    if data.__class__ is not dict:
        raise Mismatch("expected a resource (JSON object)")
    obj: dict[str, Any] = data
    rtype: Any = obj.get("resourceType")
    if type(rtype) is not str:
        raise Mismatch("the resource has no resourceType")
    found = _SPECS.get(rtype)
    if found is None:
        if rtype in R4_ONLY_TYPES:
            from ._generic import GenericResource

            return GenericResource.from_json(plain(data))
        if rtype not in PLAN_MODULES or rtype[:1].islower():
            raise Mismatch("unknown resourceType")
        found = spec(rtype)
    if not found.ready:
        found.compile()
    if found.rtype != rtype:
        raise Mismatch("unknown resourceType")
    return build(found, data)


def plain(value: Any) -> Any:
    """``value`` with exact-number markers turned back into ``Decimal`` (a no-op without markers)."""
    if type(value) is str:
        return decimal.Decimal(value[_MARK_LEN:]) if value.startswith(MARK) else value
    if value.__class__ is dict:
        obj: dict[str, Any] = value
        return {k: plain(v) for k, v in obj.items()}
    if value.__class__ is list:
        items: list[Any] = value
        return [plain(v) for v in items]
    return value


# ---------------------------------------------------------------------------------------------
# Writing


_BY_TYPE: dict[type, Spec | None] = {}


def spec_of(cls: type) -> Spec | None:
    """The spec for a model class or the nearest R4B ancestor of a user subclass."""
    try:
        return _BY_TYPE[cls]
    except KeyError:
        pass
    found: Spec | None = None
    for base in () if getattr(cls, "keeps_raw_json", False) else cls.__mro__:
        name = base.__name__
        if name in PLAN_MODULES and MODEL_MODULES.get(name) == base.__module__:
            found = spec(name)
            if not found.ready:
                found.compile()
            break
    _BY_TYPE[cls] = found
    return found


def _prim(value: Any) -> Any:
    kind: type = type(value)  # pyright: ignore[reportMissingTypeArgument, reportUnknownVariableType]
    if kind is str or kind is int or kind is bool:
        return value
    if kind is decimal.Decimal:
        if not value.is_finite():
            raise ValueError("a FHIR decimal must be finite")
        return orjson.Fragment(decimal_text(value))
    text = getattr(value, "fhir_text", None)  # date-times, dates, times, base64 as they were read
    if text is not None:
        return text
    if isinstance(value, uuid.UUID):
        return f"urn:uuid:{value}"
    if isinstance(value, (str, int, float)):
        return value
    converted = prim.text_of(value)
    if converted is value:
        return str(value)  # pydantic URL objects and the like
    return converted


def _json_value(value: Any) -> Any:
    """Raw JSON kept in extras: Decimals as exact fragments."""
    if value.__class__ is dict:
        obj: dict[str, Any] = value
        return {k: _json_value(v) for k, v in obj.items()}
    if value.__class__ is list:
        items: list[Any] = value
        return [_json_value(v) for v in items]
    if type(value) is decimal.Decimal:
        return _prim(value)
    return value


def _hook(model: Any) -> Any:
    """orjson ``default``: one model level as a dict whose nested models orjson hands back here."""
    cls = model.__class__
    sp = _BY_TYPE.get(cls) or spec_of(cls)
    if sp is None:
        if cls is decimal.Decimal:
            return _prim(model)
        raw = getattr(model, "raw", None)  # GenericResource
        if isinstance(raw, dict):
            return _json_value(raw)
        raise TypeError(f"{cls.__name__} is not a FHIR R4B model")
    out: dict[str, Any] = {} if sp.rtype is None else {"resourceType": sp.rtype}
    dump = sp.dump
    for fname, v in model.__dict__.items():
        if v is None:
            continue
        info = dump.get(fname)
        if info is None:
            continue
        key, code = info
        if code == D_STR:
            out[key] = v if v.__class__ is str else _prim(v)
        elif code == D_MODEL:
            out[key] = v if not isinstance(v, dict) else _json_value(v)
        elif code == D_LIST_MODEL:
            if v:
                out[key] = v
        elif code == D_PRIM:
            out[key] = _prim(v)
        elif code == D_LIST_STR:
            if v:
                out[key] = v
        elif code == D_LIST_PRIM:
            if v:
                out[key] = [None if x is None else _prim(x) for x in v]
        else:  # fhir_comments: a string or a list of strings
            out[key] = v
    extra = model.__pydantic_extra__
    if extra:
        for key, v in extra.items():
            out[key] = _json_value(v)
    return out


def to_json(model: Any) -> Any:
    """The JSON-ready tree of a model instance (dicts, lists, str, numbers, orjson fragments).

    The same conversion as :func:`dump_bytes`, one :func:`_hook` level at a time, with the nesting
    walked here instead of by orjson (so it also serves where orjson's depth limit stops).
    """
    return _deep(_hook(model))


def _deep(value: Any) -> Any:
    cls = value.__class__
    if cls is dict:
        obj: dict[str, Any] = value
        return {k: _deep(v) for k, v in obj.items()}
    if cls is list:
        items: list[Any] = value
        return [_deep(v) for v in items]
    if isinstance(value, BaseModel) or cls is decimal.Decimal:
        return _deep(_hook(value))
    return value


def dump_bytes(model: Any) -> bytes:
    """Compact JSON of a model: orjson walks the lists and calls back once per nested model."""
    try:
        return orjson.dumps(model, default=_hook)
    except orjson.JSONEncodeError:  # beyond orjson's callback depth, or a bad value: say which
        return encode(to_json(model))
