"""Search parameter kinds: each offers exactly the syntax FHIR R4 allows for its kind.

A parameter object is what ``query.date`` or ``query.code`` returns. Calling one of its methods
returns a new query (type ``Q``) with the parameter added; the query itself never changes.

======================  =====================================================================
kind                    methods (each returns the new query)
======================  =====================================================================
number, date            ``p(v, ...)`` (equality, OR), ``eq ne gt lt ge le sa eb ap``
quantity                ``p(v, ...)``, the prefixes with ``(value, system=None, code=None)``
string                  ``p(v, ...)`` (starts-with), ``exact``, ``contains``
token                   ``p(code | (system, code), ...)``, ``text``, ``not_``, ``above``,
                        ``below``, ``in_``, ``not_in`` (+ ``of_type`` for identifiers)
uri                     ``p(v, ...)``, ``above``, ``below``
reference               ``p(id | "Type/id" | model, ...)``, ``identifier``, ``typed``, and one
                        property per target type chaining to that type's parameters
composite               ``p((part, part), ...)`` joined with ``$``
special                 ``p(v)`` verbatim
every kind              ``missing(True | False)``
all but composite,      ``asc()`` / ``desc()``: a typed ``_sort`` key (``q.sort(q.date.desc(),
special                 q.status)``; a parameter passed as is sorts ascending)
======================  =====================================================================

Several values in one call are OR (``,``); AND is calling the parameter again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeAlias, TypeVar

from clinikfhir.errors import InvalidArgumentError

from ._values import (
    PREFIXES,
    DateValue,
    Number,
    Prefixed,
    QuantityValue,
    TokenValue,
    escape,
    format_date,
    format_number,
    format_quantity,
    format_token,
)

if TYPE_CHECKING:
    from clinikfhir.models import Resource

Q = TypeVar("Q")
Q_co = TypeVar("Q_co", covariant=True)

CompositePart = str | Number | dt.date | tuple[str | None, str | None] | QuantityValue | Prefixed
"""One component value of a composite parameter, formatted by that component's kind."""

# What each kind accepts as a composite component (the typed Composite2/Composite3 use these).
TokenArg = TokenValue
QuantityArg = Number | QuantityValue
NumberArg = Number | Prefixed
DateArg = DateValue | Prefixed
StringArg = str
ReferenceArg = str
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


class Root(Protocol[Q_co]):
    """What parameters add themselves to: a query, which returns its extended copy."""

    def _appended(self, name: str, value: str) -> Q_co: ...


class Params(Generic[Q]):
    """A set of typed search parameters whose setters return ``Q``.

    A query is its own ``Params`` (prefix ``""``); a chain (``subject:Patient.``) or a reverse
    chain (``_has:Observation:patient:``) is a ``Params`` of the target type with a name prefix,
    whose setters still return the query it started from.
    """

    resource_type: ClassVar[str] = "Resource"
    _root: Root[Q] | None = None
    _prefix: str = ""

    def __init__(self, root: Root[Q], prefix: str) -> None:
        self._root = root
        self._prefix = prefix

    def _add(self, name: str, value: str) -> Q:
        if self._root is None:  # a query: the parameters are its own
            return self._appended(name, value)  # type: ignore[attr-defined, no-any-return]  # pyright: ignore
        return self._root._appended(self._prefix + name, value)  # pyright: ignore[reportPrivateUsage]


class Param(Generic[Q]):
    """Base of every parameter kind: its name, ``missing``, and how values are joined."""

    __slots__ = ("_name", "_node")

    def __init__(self, node: Params[Q], name: str) -> None:
        self._node = node
        self._name = name

    def _emit(self, modifier: str, values: Sequence[str]) -> Q:
        if not values:
            raise InvalidArgumentError(f"search parameter {self._name}{modifier}: give at least one value")
        return self._node._add(self._name + modifier, ",".join(values))  # pyright: ignore[reportPrivateUsage]

    def _where(self, modifier: str = "") -> str:
        return f"search parameter {self._node._prefix}{self._name}{modifier}"  # pyright: ignore[reportPrivateUsage]

    def missing(self, missing: bool = True) -> Q:
        """``name:missing=true`` (no value present) or ``false`` (some value present)."""
        if not isinstance(missing, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidArgumentError(f"{self._where(':missing')}: expected True or False")
        return self._emit(":missing", ["true" if missing else "false"])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._node._prefix}{self._name}>"  # pyright: ignore[reportPrivateUsage]


class SortKey(Generic[Q]):
    """A typed ``_sort`` key: ``q.date.desc()`` (``-date``), ``q.status.asc()`` (``status``).

    Generic in the query its parameter came from, so a key of another type's query is a type error
    in ``sort``; the query checks the same at run time (and refuses chained parameters).
    """

    __slots__ = ("descending", "param")

    def __init__(self, param: Sortable[Q], descending: bool) -> None:
        self.param = param
        self.descending = descending

    @property
    def wire(self) -> str:
        """The key as sent: the parameter code, ``-`` first when descending."""
        return ("-" if self.descending else "") + self.param._name  # pyright: ignore[reportPrivateUsage]

    def __repr__(self) -> str:
        return f"<SortKey {self.wire}>"


class Sortable(Param[Q]):
    """A parameter that can be a ``_sort`` key (every kind but composite and special)."""

    __slots__ = ()

    def asc(self) -> SortKey[Q]:
        """This parameter as an ascending ``_sort`` key (the same as passing the parameter itself)."""
        return SortKey(self, False)

    def desc(self) -> SortKey[Q]:
        """This parameter as a descending ``_sort`` key (``-code`` on the wire)."""
        return SortKey(self, True)


SortBy: TypeAlias = "SortKey[Q] | Sortable[Q]"
"""A typed sort key for a query ``Q``: ``q.date.desc()``, ``q.status.asc()`` or the parameter ``q.status``."""


class _Prefixed(Sortable[Q]):
    def _values(self, prefix: str, values: Sequence[Any]) -> Q:
        raise NotImplementedError

    def eq(self, *values: Any) -> Q:
        """``eq``: the value's range contains the resource's (the default without prefix)."""
        return self._values("eq", values)

    def ne(self, *values: Any) -> Q:
        """``ne``: not equal."""
        return self._values("ne", values)

    def gt(self, *values: Any) -> Q:
        """``gt``: greater than."""
        return self._values("gt", values)

    def lt(self, *values: Any) -> Q:
        """``lt``: less than."""
        return self._values("lt", values)

    def ge(self, *values: Any) -> Q:
        """``ge``: greater or equal."""
        return self._values("ge", values)

    def le(self, *values: Any) -> Q:
        """``le``: less or equal."""
        return self._values("le", values)

    def sa(self, *values: Any) -> Q:
        """``sa``: starts after."""
        return self._values("sa", values)

    def eb(self, *values: Any) -> Q:
        """``eb``: ends before."""
        return self._values("eb", values)

    def ap(self, *values: Any) -> Q:
        """``ap``: approximately (the server decides how close)."""
        return self._values("ap", values)


class NumberParam(_Prefixed[Q]):
    """A number parameter: ``p(5)``, ``p.gt(Decimal("0.8"))``; Decimals keep their digits."""

    __slots__ = ()

    def __call__(self, *values: Number | Prefixed) -> Q:
        """Equal to any of ``values`` (OR); ``Prefixed("lt", 5)`` mixes prefixes in one OR."""
        return self._emit("", [_prefixed(v, format_number, self._where()) for v in values])

    def _values(self, prefix: str, values: Sequence[Any]) -> Q:
        return self._emit("", [prefix + format_number(v, self._where()) for v in values])

    if TYPE_CHECKING:

        def eq(self, *values: Number) -> Q: ...
        def ne(self, *values: Number) -> Q: ...
        def gt(self, *values: Number) -> Q: ...
        def lt(self, *values: Number) -> Q: ...
        def ge(self, *values: Number) -> Q: ...
        def le(self, *values: Number) -> Q: ...
        def sa(self, *values: Number) -> Q: ...
        def eb(self, *values: Number) -> Q: ...
        def ap(self, *values: Number) -> Q: ...


class DateParam(_Prefixed[Q]):
    """A date parameter: ``p.ge("2024-01-01")``, ``p.lt(datetime(2024, 1, 1, tzinfo=UTC))``.

    Values are ``date``, aware ``datetime`` (rendered with its zone; ``Z`` for UTC; a naive one is
    refused with :class:`~clinikfhir.errors.InvalidArgumentError`) or FHIR date strings
    of any precision (``2024``, ``2024-01``, ``2024-01-31``, ``2024-01-31T10:00:00+01:00``).
    """

    __slots__ = ()

    def __call__(self, *values: DateValue | Prefixed) -> Q:
        """Within any of ``values`` at their precision (OR); ``Prefixed("lt", "2020")`` mixes prefixes:
        ``date(Prefixed("lt", "2020"), Prefixed("gt", "2024"))`` -> ``date=lt2020,gt2024``."""
        return self._emit("", [_prefixed(v, format_date, self._where()) for v in values])

    def _values(self, prefix: str, values: Sequence[Any]) -> Q:
        return self._emit("", [prefix + format_date(v, self._where()) for v in values])

    if TYPE_CHECKING:

        def eq(self, *values: DateValue) -> Q: ...
        def ne(self, *values: DateValue) -> Q: ...
        def gt(self, *values: DateValue) -> Q: ...
        def lt(self, *values: DateValue) -> Q: ...
        def ge(self, *values: DateValue) -> Q: ...
        def le(self, *values: DateValue) -> Q: ...
        def sa(self, *values: DateValue) -> Q: ...
        def eb(self, *values: DateValue) -> Q: ...
        def ap(self, *values: DateValue) -> Q: ...


class QuantityParam(Sortable[Q]):
    """A quantity parameter: ``p.ge(5.4, "http://unitsofmeasure.org", "mg")`` -> ``ge5.4|...|mg``."""

    __slots__ = ()

    def __call__(self, *values: Number | QuantityValue) -> Q:
        """Equal to any of ``values`` (OR); a :class:`QuantityValue` carries system, code and prefix."""
        return self._emit("", [format_quantity(v, self._where()) for v in values])

    def _one(self, prefix: str, value: Number, system: str | None, code: str | None) -> Q:
        return self._emit("", [format_quantity(QuantityValue(value, system, code, prefix), self._where())])

    def eq(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``eq``: equal (within the value's precision)."""
        return self._one("eq", value, system, code)

    def ne(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``ne``: not equal."""
        return self._one("ne", value, system, code)

    def gt(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``gt``: greater than."""
        return self._one("gt", value, system, code)

    def lt(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``lt``: less than."""
        return self._one("lt", value, system, code)

    def ge(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``ge``: greater or equal."""
        return self._one("ge", value, system, code)

    def le(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``le``: less or equal."""
        return self._one("le", value, system, code)

    def sa(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``sa``: starts after."""
        return self._one("sa", value, system, code)

    def eb(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``eb``: ends before."""
        return self._one("eb", value, system, code)

    def ap(self, value: Number, system: str | None = None, code: str | None = None) -> Q:
        """``ap``: approximately."""
        return self._one("ap", value, system, code)


class StringParam(Sortable[Q]):
    """A string parameter: ``p("smi")`` (case-insensitive starts-with), ``exact``, ``contains``."""

    __slots__ = ()

    def _strings(self, modifier: str, values: Sequence[str]) -> Q:
        return self._emit(modifier, [escape(v) for v in values])

    def __call__(self, *values: str) -> Q:
        """Starts with any of ``values``, ignoring case and accents (OR)."""
        return self._strings("", values)

    def exact(self, *values: str) -> Q:
        """``:exact``: the whole string, case and accents included."""
        return self._strings(":exact", values)

    def contains(self, *values: str) -> Q:
        """``:contains``: anywhere in the string."""
        return self._strings(":contains", values)


class UriParam(Sortable[Q]):
    """A uri parameter: ``p(url)``, ``above`` (the url or a parent), ``below`` (the url or a child)."""

    __slots__ = ()

    def _uris(self, modifier: str, values: Sequence[str]) -> Q:
        return self._emit(modifier, [escape(v) for v in values])

    def __call__(self, *values: str) -> Q:
        """Exactly any of ``values`` (OR)."""
        return self._uris("", values)

    def above(self, *values: str) -> Q:
        """``:above``: the resource's uri is the value or a parent of it."""
        return self._uris(":above", values)

    def below(self, *values: str) -> Q:
        """``:below``: the resource's uri is the value or under it."""
        return self._uris(":below", values)


class TokenParam(Sortable[Q]):
    """A token parameter: ``p("8867-4")``; ``p("http://loinc.org|8867-4")`` or
    ``p(("http://loinc.org", "8867-4"))`` -> ``system|code``.

    A string is read as the wire writes it: an unescaped ``|`` separates system and code, and a
    ``|`` inside a code is written ``\\|`` (or use the tuple form, whose parts are data as they are).
    See :data:`~clinikfhir.search._values.TokenValue`.
    """

    __slots__ = ()

    def _tokens(self, modifier: str, values: Sequence[TokenValue]) -> Q:
        return self._emit(modifier, [format_token(v, self._where(modifier)) for v in values])

    def _strings(self, modifier: str, values: Sequence[str]) -> Q:
        return self._emit(modifier, [escape(v) for v in values])

    def __call__(self, *values: TokenValue) -> Q:
        """Matches any of ``values`` (OR): ``code``, ``(system, code)``, ``(None, code)``, ``(system, None)``."""
        return self._tokens("", values)

    def text(self, *values: str) -> Q:
        """``:text``: a string search (R4): the coding's display or the concept's text starts with the
        value, ignoring case and accents (``text("acute vir")`` matches "Acute viral pharyngitis",
        ``text("viral")`` does not)."""
        return self._strings(":text", values)

    def not_(self, *values: TokenValue) -> Q:
        """``:not``: no coding matches (resources without the element match too)."""
        return self._tokens(":not", values)

    def above(self, *values: TokenValue) -> Q:
        """``:above``: the code or one that subsumes it (terminology servers only)."""
        return self._tokens(":above", values)

    def below(self, *values: TokenValue) -> Q:
        """``:below``: the code or one it subsumes."""
        return self._tokens(":below", values)

    def in_(self, *value_sets: str) -> Q:
        """``:in``: the code is in the value set (by canonical URL)."""
        return self._strings(":in", value_sets)

    def not_in(self, *value_sets: str) -> Q:
        """``:not-in``: the code is not in the value set."""
        return self._strings(":not-in", value_sets)


class IdentifierParam(TokenParam[Q]):
    """A token parameter on an ``Identifier``: adds ``of_type`` (``:of-type=system|code|value``)."""

    __slots__ = ()

    def of_type(self, type_system: str, type_code: str, value: str) -> Q:
        """``:of-type``: an identifier of this type (e.g. v2-0203 ``MR``) with this value."""
        return self._emit(":of-type", [f"{escape(type_system)}|{escape(type_code)}|{escape(value)}"])


class SpecialParam(Param[Q]):
    """A parameter with its own syntax (e.g. ``Location.near``): values are sent verbatim."""

    __slots__ = ()

    def __call__(self, *values: str) -> Q:
        """Any of ``values`` (OR), each sent as written."""
        return self._emit("", list(values))


def _reference_value(value: Any, where: str) -> str:
    if isinstance(value, str):
        if not value:
            raise InvalidArgumentError(f"{where}: an empty reference")
        return escape(value)
    type_name = getattr(value, "resource_type", None)
    if not isinstance(type_name, str):
        getter = getattr(value, "get_resource_type", None)
        type_name = getter() if callable(getter) else None
    rid = getattr(value, "id", None)
    if not isinstance(type_name, str) or not isinstance(rid, str) or not rid:
        raise InvalidArgumentError(f"{where}: a resource given as a reference needs a resource type and an id")
    return escape(f"{type_name}/{rid}")


class ReferenceParam(Sortable[Q]):
    """A reference parameter: ``p("123")``, ``p("Patient/123")``, ``p(patient)`` (a model with an id),
    ``identifier(...)``, ``typed("Patient", "123")`` (``:Patient=123``), and chaining through the
    properties named after its target types: ``query.subject.Patient.name("Smith")``."""

    __slots__ = ()
    _targets: tuple[str, ...] = ()

    def __call__(self, *values: str | Resource) -> Q:
        """Points at any of ``values`` (OR): a logical id, ``Type/id``, an absolute URL or a model."""
        return self._emit("", [_reference_value(v, self._where()) for v in values])

    def identifier(self, *values: TokenValue) -> Q:
        """``:identifier``: the reference's ``identifier`` matches (``(system, value)``)."""
        return self._emit(":identifier", [format_token(v, self._where(":identifier")) for v in values])

    def _typed(self, target: str, ids: Sequence[str]) -> Q:
        if target not in self._targets:
            raise InvalidArgumentError(f"{self._where()}: cannot point at a {target}")
        return self._emit(":" + target, [escape(i) for i in ids])

    def _chain(self, target: str) -> tuple[Root[Q], str]:
        """The root query and the name prefix for chaining through this reference to ``target``."""
        node = self._node
        root: Root[Q] = node._root if node._root is not None else node  # type: ignore[assignment]  # pyright: ignore
        modifier = f":{target}" if len(self._targets) > 1 else ""
        return root, f"{node._prefix}{self._name}{modifier}."  # pyright: ignore[reportPrivateUsage]


class CompositeParam(Param[Q]):
    """A composite parameter: each value is a tuple with one part per component, joined with ``$``.

    ``code_value_quantity((("http://loinc.org", "8480-6"), QuantityValue(120, prefix="gt")))``
    -> ``code-value-quantity=http://loinc.org|8480-6$gt120``.
    """

    __slots__ = ("_kinds",)

    def __init__(self, node: Params[Q], name: str, kinds: tuple[str, ...]) -> None:
        super().__init__(node, name)
        self._kinds = kinds

    def _combos(self, values: Sequence[tuple[Any, ...]]) -> Q:
        return self._emit("", [self._combo(v) for v in values])

    def _combo(self, value: tuple[CompositePart, ...]) -> str:
        where = self._where()
        if not isinstance(value, tuple) or len(value) != len(self._kinds):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidArgumentError(f"{where}: each value is a tuple of {len(self._kinds)} parts")
        return "$".join(
            _part(kind, part, f"{where} part {i + 1}")
            for i, (kind, part) in enumerate(zip(self._kinds, value, strict=True))
        )


def _prefixed(value: Any, fmt: Any, where: str) -> str:
    if isinstance(value, Prefixed):
        if value.prefix not in PREFIXES:
            raise InvalidArgumentError(f"{where}: unknown prefix (expected one of {', '.join(PREFIXES)})")
        return value.prefix + str(fmt(value.value, where))
    return str(fmt(value, where))


def _part(kind: str, part: Any, where: str) -> str:
    if kind == "token":
        return format_token(part, where)
    if kind == "quantity":
        return format_quantity(part, where)
    if kind in ("number", "date"):
        return _prefixed(part, format_number if kind == "number" else format_date, where)
    if kind == "reference":
        return _reference_value(part, where)
    if isinstance(part, str):
        return escape(part)
    if isinstance(part, (int, float, Decimal)):
        return format_number(part, where)
    raise InvalidArgumentError(f"{where}: expected a string")


class Composite2(CompositeParam[Q], Generic[Q, A, B]):
    """A two-component composite: ``p((a, b), ...)``, each part typed by its component's kind."""

    __slots__ = ()

    def __call__(self, *values: tuple[A, B]) -> Q:
        """Matches any of ``values`` (OR); each is a ``(first, second)`` pair of component values."""
        return self._combos(values)


class Composite3(CompositeParam[Q], Generic[Q, A, B, C]):
    """A three-component composite: ``p((a, b, c), ...)``."""

    __slots__ = ()

    def __call__(self, *values: tuple[A, B, C]) -> Q:
        """Matches any of ``values`` (OR); each is a triple of component values."""
        return self._combos(values)
