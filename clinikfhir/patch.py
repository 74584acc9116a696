"""RFC 6902 JSON Patch for FHIR models: a small immutable builder whose paths are checked against
the model's elements, and :meth:`JsonPatch.diff` to compute a patch from two versions of a resource.

>>> from clinikfhir.models import Patient
>>> p = JsonPatch(Patient).replace("/gender", "female").add("/name/0/given/-", "Ann")
>>> p.operations[0]
{'op': 'replace', 'path': '/gender', 'value': 'female'}
>>> JsonPatch(Patient).replace("/gendr", "female")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
clinikfhir.errors.InvalidArgumentError: ...
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, cast

from typing_extensions import TypeVar

from clinikfhir._public import shown_as_root
from clinikfhir.errors import InvalidArgumentError, TenantGuardError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from clinikfhir.models import Resource

__all__ = ["JsonPatch", "OpName"]

M = TypeVar("M", bound="Resource", default="Resource", contravariant=True)
M2 = TypeVar("M2", bound="Resource")

OpName = Literal["add", "remove", "replace", "move", "copy", "test"]
_OPS: frozenset[str] = frozenset(typing.get_args(OpName))
# Server-managed bookkeeping that a model diff must not try to write.
_DIFF_IGNORED = ("/meta/versionId", "/meta/lastUpdated")


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _split(path: str) -> list[str]:
    given = cast(object, path)
    if not isinstance(given, str) or not given.startswith("/"):
        raise InvalidArgumentError(f"a JSON Patch path is a JSON Pointer starting with '/', got {path!r}")
    return [_unescape(s) for s in path[1:].split("/")]


def touches_tenant_tag(path: str) -> bool:
    """True when ``path`` is ``/meta``, ``/meta/tag`` or inside ``/meta/tag/``."""
    return path in ("/meta", "/meta/tag") or path.startswith("/meta/tag/")


def to_json(value: Any) -> Any:
    """A patch value as plain JSON: models dumped by alias without nulls, dates as ISO text."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, bool) or value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise InvalidArgumentError("a FHIR decimal must be finite")
        return value  # sent digit for digit by the client's JSON encoder
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in cast("Mapping[object, Any]", value).items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    raise InvalidArgumentError(f"a patch value of type {type(value).__name__} cannot be sent as JSON")


# ------------------------------------------------------------------------------------- path checking


def _element_class(annotation: Any) -> tuple[bool, type[BaseModel] | None, bool]:
    """(is_list, model class or None for primitives, is_open) for a pydantic field annotation."""
    from pydantic import BaseModel

    is_list = False
    ann = annotation
    for _ in range(6):
        origin = typing.get_origin(ann)
        if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            ann = args[0] if len(args) == 1 else Any
        elif origin in (list, typing.List):  # noqa: UP006
            is_list = True
            ann = typing.get_args(ann)[0]
        elif origin is typing.Annotated:
            ann = typing.get_args(ann)[0]
        else:
            break
    getter = getattr(ann, "get_model_klass", None)
    if callable(getter):
        cls = cast("type[BaseModel]", getter())
        name = cls.__name__
        # Resource (contained) and Extension values are open: anything below them is allowed.
        return is_list, cls, name in ("Resource", "DomainResource")
    if isinstance(ann, type) and issubclass(cast("type[object]", ann), BaseModel):
        return is_list, cast("type[BaseModel]", ann), False
    return is_list, None, ann is Any


def _fields_by_alias(cls: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or name): f.annotation for name, f in cls.model_fields.items() if not name.endswith("__ext")}


def check_path(model: type[BaseModel], path: str, *, for_add: bool = False) -> None:
    """Raise :class:`InvalidArgumentError` unless ``path`` names an element of ``model``.

    List elements take an index (``/name/0``) or, for ``add``, ``-`` (append). Primitive extensions
    (``/_birthDate/...``) and anything inside a contained resource are accepted without deeper checks.
    """
    segments = _split(path)
    where = model.__name__
    cls: type[BaseModel] | None = model
    i = 0
    while i < len(segments):
        seg = segments[i]
        if cls is None:
            raise InvalidArgumentError(f"JSON Patch path {path!r}: {where} is a primitive and has no element {seg!r}")
        fields = _fields_by_alias(cls)
        if seg not in fields:
            if seg.startswith("_") and seg[1:] in fields:  # primitive extension container
                return
            raise InvalidArgumentError(f"JSON Patch path {path!r}: {where} has no element {seg!r}")
        is_list, sub, is_open = _element_class(fields[seg])
        where = f"{where}.{seg}"
        i += 1
        if is_list and i < len(segments):
            idx = segments[i]
            last = i == len(segments) - 1
            if not (idx.isdigit() and (idx == "0" or not idx.startswith("0"))) and not (
                idx == "-" and for_add and last
            ):
                raise InvalidArgumentError(
                    f"JSON Patch path {path!r}: {where} is a list; expected an index, got {idx!r}"
                )
            where = f"{where}[{idx}]"
            i += 1
        elif not is_list and i < len(segments) and segments[i].isdigit() and sub is None:
            raise InvalidArgumentError(f"JSON Patch path {path!r}: {where} is not a list")
        if is_open:
            return
        cls = sub


# ------------------------------------------------------------------------------------------ builder


class JsonPatch(Sequence[dict[str, Any]], Generic[M]):
    """An immutable RFC 6902 patch: every method returns a new patch with one more operation.

    Generic in the model it patches: ``JsonPatch(Patient)`` is a ``JsonPatch[Patient]``, each path is
    checked as it is added, and ``clinik.patch(Observation, id, JsonPatch(Patient)...)`` is a type
    error (``JsonPatch()`` without a model is ``JsonPatch[Any]``, checked when sent). Paths touching
    ``/meta/tag`` are refused (the gateway owns the tenant tag).
    """

    __slots__ = ("_model", "_ops")

    def __init__(self, model: type[M] | None = None, operations: Sequence[Mapping[str, Any]] = ()) -> None:
        self._model = model
        ops: list[dict[str, Any]] = []
        for raw in operations:
            op = dict(raw)
            self._check_op(op)
            ops.append(op)
        self._ops: tuple[dict[str, Any], ...] = tuple(ops)

    # --- operations

    def add(self, path: str, value: Any) -> JsonPatch[M]:
        """Add ``value`` at ``path`` (``/name/-`` appends to a list)."""
        return self._with({"op": "add", "path": path, "value": to_json(value)})

    def remove(self, path: str) -> JsonPatch[M]:
        """Remove the element at ``path``."""
        return self._with({"op": "remove", "path": path})

    def replace(self, path: str, value: Any) -> JsonPatch[M]:
        """Replace the element at ``path`` by ``value``."""
        return self._with({"op": "replace", "path": path, "value": to_json(value)})

    def move(self, from_: str, path: str) -> JsonPatch[M]:
        """Move the element at ``from_`` to ``path``."""
        return self._with({"op": "move", "from": from_, "path": path})

    def copy(self, from_: str, path: str) -> JsonPatch[M]:
        """Copy the element at ``from_`` to ``path``."""
        return self._with({"op": "copy", "from": from_, "path": path})

    def test(self, path: str, value: Any) -> JsonPatch[M]:
        """Make the whole patch fail unless the element at ``path`` equals ``value``."""
        return self._with({"op": "test", "path": path, "value": to_json(value)})

    # --- inspection

    @property
    def operations(self) -> list[dict[str, Any]]:
        """The operations as JSON-ready dicts (copies)."""
        return [dict(op) for op in self._ops]

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        return dict(self._ops[index])

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (dict(op) for op in self._ops)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonPatch) and other._ops == self._ops

    def __hash__(self) -> int:
        return hash(len(self._ops))

    def __repr__(self) -> str:
        names = ", ".join(f"{op['op']} {op['path']}" for op in self._ops)
        return f"JsonPatch([{names}])"  # values are left out: they may be patient data

    def check(self, model: type[Resource]) -> JsonPatch[M]:
        """Check every path against ``model`` (and the tenant guard); return self."""
        for op in self._ops:
            self._check_op(op, model)
        return self

    # --- diff

    @classmethod
    def diff(cls, old: M2, new: M2) -> JsonPatch[M2]:
        """The patch that turns ``old`` into ``new`` (server-managed ``meta.versionId`` and
        ``meta.lastUpdated`` are ignored).

        >>> from clinikfhir.models import Patient
        >>> JsonPatch.diff(Patient(gender="male"), Patient(gender="female")).operations
        [{'op': 'replace', 'path': '/gender', 'value': 'female'}]
        """
        import jsonpatch

        if type(old) is not type(new):
            raise InvalidArgumentError(f"cannot diff a {type(old).__name__} against a {type(new).__name__}")
        from clinikfhir.models import decode, dump_bytes, encode

        a = decode(dump_bytes(old))  # the lossless JSON of each, so decimals compare digit for digit
        b = decode(dump_bytes(new))
        ops: list[dict[str, Any]] = [
            dict(op)
            for op in jsonpatch.JsonPatch.from_diff(  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                a, b, dumps=lambda v: encode(v).decode()
            ).patch
            if str(op["path"]) not in _DIFF_IGNORED  # pyright: ignore[reportUnknownArgumentType]
        ]
        return JsonPatch(type(new), ops)

    # --- internals

    def _with(self, op: dict[str, Any]) -> JsonPatch[M]:
        self._check_op(op)
        new: JsonPatch[M] = JsonPatch.__new__(JsonPatch)
        new._model = self._model
        new._ops = (*self._ops, op)
        return new

    def _check_op(self, op: dict[str, Any], model: type[Resource] | None = None) -> None:
        kind = op.get("op")
        if kind not in _OPS:
            raise InvalidArgumentError(f"unknown JSON Patch op {kind!r}; expected one of {sorted(_OPS)}")
        paths = [op.get("path")]
        if kind in ("move", "copy"):
            paths.append(op.get("from"))
        elif kind in ("add", "replace", "test") and "value" not in op:
            raise InvalidArgumentError(f"JSON Patch {kind} at {op.get('path')!r} needs a value")
        target = model or self._model
        for path in paths:
            if not isinstance(path, str):
                raise InvalidArgumentError(f"JSON Patch {kind} needs a string path")
            if path == "" or not path.startswith("/"):
                raise InvalidArgumentError(
                    f"JSON Patch path {path!r} must start with '/' (whole-resource ops are refused)"
                )
            if kind != "test" and touches_tenant_tag(path):
                raise TenantGuardError(
                    f"JSON Patch {kind} on {path}: the gateway owns the tenant tag in meta.tag; "
                    "patch other elements (meta.profile, meta.security...) by their own path"
                )
            if path.split("/")[1] in ("resourceType",):
                raise InvalidArgumentError("JSON Patch may not change resourceType")
            if target is not None:
                check_path(
                    cast("type[BaseModel]", target),
                    path,
                    for_add=(kind in ("add", "move", "copy") and path is op.get("path")),
                )


shown_as_root(JsonPatch)  # shown as clinikfhir.JsonPatch, its public name
