"""The immutable query: parameters in order, result parameters, rendering, and execution on a client.

Generated per-type classes (``ObservationQuery`` ...) derive from :class:`Query` and add one typed
member per search parameter plus typed ``sort``/``include``/``revinclude``. Every method returns a
new query, so a base query can be shared and extended safely.

A query is generic in the executor it is bound to (``None`` when built standalone): bound to
``Clinik``, ``get()`` returns ``Page[R]``; bound to ``AsyncClinik`` it returns an awaitable, and
``iter()`` an async iterator. Unbound, execution methods are type errors.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, Self, cast, overload
from urllib.parse import quote

from typing_extensions import TypeVar

from clinikfhir._wire import TENANT_SYSTEM
from clinikfhir.errors import InvalidArgumentError

from ._capabilities import UnsupportedSearchError, problems_for
from ._params import Params, Root
from ._tenant import guard_tenant_params, guard_tenant_tag

if TYPE_CHECKING:
    from fhir.resources.R4B.resource import Resource

    from clinikfhir.bundle import Page

R = TypeVar("R", bound="Resource")
R2 = TypeVar("R2", bound="Resource")
E = TypeVar("E", default=None, covariant=True)
P = TypeVar("P")


ParamsArg = Mapping[str, str | int | Sequence[str | int]] | Sequence[tuple[str, str | int]]
"""Raw parameters: ``{"name": "value" | ["v1", "v2"]}`` (a list repeats = AND) or ``[(name, value)]``;
values are sent verbatim (ints as decimal text)."""

_SINGLE = frozenset({"_count", "_sort", "_summary", "_total", "_contained", "_containedType", "_elements"})


class SyncExecutor(Protocol):
    """What a query needs from ``Clinik`` (interface 7): one page, and the next.

    Queries always pass ``resource_type`` (their own type): for the R4-only types ``model`` is
    :class:`~clinikfhir.models.GenericResource`, which cannot name the type itself.
    """

    def _execute_search(
        self,
        model: type[R2],
        params: Sequence[tuple[str, str]],
        *,
        post: bool = False,
        resource_type: str | None = None,
    ) -> Page[R2]: ...

    def _next_page(self, page: Page[R2]) -> Page[R2] | None: ...


class AsyncExecutor(Protocol):
    """What a query needs from ``AsyncClinik``: the same, awaitable."""

    async def _execute_search(
        self,
        model: type[R2],
        params: Sequence[tuple[str, str]],
        *,
        post: bool = False,
        resource_type: str | None = None,
    ) -> Page[R2]: ...

    async def _next_page(self, page: Page[R2]) -> Page[R2] | None: ...


class Query(Generic[R, E]):
    """A FHIR search on one resource type. Build it fluently; render it with :meth:`query_string`.

    >>> from clinikfhir.search import ObservationQuery
    >>> ObservationQuery().code("8867-4").date.ge("2024-01-01").sort("-date").count(50).query_string()
    'code=8867-4&date=ge2024-01-01&_sort=-date&_count=50'
    """

    resource_type: ClassVar[str] = "Resource"
    """The FHIR resource type this query searches."""

    def __init__(self, executor: E = None, params: ParamsArg | None = None) -> None:  # type: ignore[assignment]
        self._executor: Any = executor
        self._pairs: tuple[tuple[str, str], ...] = ()
        if params:
            items = params.items() if isinstance(params, Mapping) else [(n, v) for n, v in params]
            for name, value in items:
                for one in [value] if isinstance(value, (str, int)) else value:
                    self._pairs = (*self._pairs, _checked_raw(name, _raw_value(name, one)))

    # ---------------------------------------------------------------------------------- building

    def _copy(self, pairs: tuple[tuple[str, str], ...]) -> Self:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._pairs = pairs
        return new

    def _appended(self, name: str, value: str) -> Self:
        guard_tenant_tag(name, value)
        return self._copy((*self._pairs, (name, value)))

    def _replaced(self, name: str, value: str) -> Self:
        return self._copy((*(p for p in self._pairs if p[0] != name), (name, value)))

    def raw(self, name: str, value: str) -> Self:
        """Add ``name=value`` as written (no escaping): the escape hatch for syntax the builder lacks.

        The tenant guard still applies: a ``_tag`` on the tenant system is refused.
        """
        return self._copy((*self._pairs, _checked_raw(name, value)))

    def has(self, source: Callable[[Root[Self], str], P], via: str) -> P:
        """Reverse chaining (``_has``): resources of another type that point here through ``via``.

        ``PatientQuery().has(ObservationParams, "patient").code("1234-5")``
        -> ``_has:Observation:patient:code=1234-5``. ``source`` is the other type's ``...Params``
        class; the result offers that type's parameters and returns this query.
        """
        source_type = getattr(source, "resource_type", None)
        if not isinstance(source_type, str):
            raise InvalidArgumentError("has(): pass a generated ...Params class, e.g. ObservationParams")
        from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

        param = SEARCH_PARAMETERS.get(source_type, {}).get(via)
        if param is None or param.type != "reference":
            raise InvalidArgumentError(f"has(): {source_type} has no reference search parameter {via!r}")
        if self.resource_type not in param.targets:
            raise InvalidArgumentError(f"has(): {source_type}.{via} cannot point at a {self.resource_type}")
        return source(cast("Root[Self]", self), f"_has:{source_type}:{via}:")

    def in_list(self, list_id: str) -> Self:
        """``_list``: only resources in the List with this id."""
        return self._appended("_list", _escaped_id(list_id, "_list"))

    # ----------------------------------------------------------------------------- result params

    def _sort(self, keys: Sequence[str]) -> Self:
        if not keys:
            raise InvalidArgumentError("_sort: give at least one key")
        return self._replaced("_sort", ",".join(keys))

    def _include_value(self, param: str, target: str | None) -> str:
        if target is not None:
            from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

            definition = SEARCH_PARAMETERS[self.resource_type][param]
            if target not in definition.targets:
                raise InvalidArgumentError(f"_include {self.resource_type}:{param}: cannot point at a {target}")
            return f"{self.resource_type}:{param}:{target}"
        return f"{self.resource_type}:{param}"

    def _include(self, name: str, value: str, iterate: bool) -> Self:
        return self._appended(name + (":iterate" if iterate else ""), value)

    @overload
    def count(self, page_size: int, /) -> Self: ...
    @overload
    def count(self: Query[R, SyncExecutor], /) -> int: ...
    @overload
    def count(self: Query[R, AsyncExecutor], /) -> Coroutine[Any, Any, int]: ...
    def count(self, page_size: int | None = None, /) -> Any:
        """``count(50)`` sets ``_count`` (the page size); ``count()`` on a bound query asks the server
        how many resources match (``_summary=count``) and returns that number."""
        if page_size is None:
            return self._count_matches()
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidArgumentError("_count: expected a non-negative int")
        return self._replaced("_count", str(page_size))

    def elements(self, *names: str) -> Self:
        """``_elements``: return only these top-level elements (plus mandatory ones)."""
        if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidArgumentError("_elements: give element names such as 'id', 'code'")
        return self._replaced("_elements", ",".join(names))

    def summary(self, mode: Literal["true", "false", "text", "data", "count"] = "true") -> Self:
        """``_summary``: ``true`` (summary elements), ``text``, ``data``, ``count`` (total only), ``false``."""
        if mode not in ("true", "false", "text", "data", "count"):
            raise InvalidArgumentError("_summary: expected true, false, text, data or count")
        return self._replaced("_summary", mode)

    def total(self, mode: Literal["none", "estimate", "accurate"] = "accurate") -> Self:
        """``_total``: ask for ``Bundle.total`` (``accurate``, ``estimate``) or not (``none``)."""
        if mode not in ("none", "estimate", "accurate"):
            raise InvalidArgumentError("_total: expected none, estimate or accurate")
        return self._replaced("_total", mode)

    def contained(
        self,
        mode: Literal["true", "false", "both"] = "true",
        contained_type: Literal["container", "contained"] | None = None,
    ) -> Self:
        """``_contained`` (search contained resources too) and optionally ``_containedType``."""
        if mode not in ("true", "false", "both"):
            raise InvalidArgumentError("_contained: expected true, false or both")
        query = self._replaced("_contained", mode)
        if contained_type is not None:
            if contained_type not in ("container", "contained"):
                raise InvalidArgumentError("_containedType: expected container or contained")
            query = query._replaced("_containedType", contained_type)
        return query

    # -------------------------------------------------------------------------------- rendering

    def params(self) -> tuple[tuple[str, str], ...]:
        """The parameters as decoded ``(name, value)`` pairs, in order (what is sent)."""
        return self._pairs

    def query_string(self) -> str:
        """The URL query string, deterministic: ``code=8867-4&date=ge2024-01-01&_count=50``."""
        guard_tenant_params(self._pairs)
        return "&".join(f"{_quote_name(n)}={_quote_value(v)}" for n, v in self._pairs)

    def __repr__(self) -> str:
        # names only: values may be patient data, and reprs end up in logs and tracebacks
        bound = "" if self._executor is None else f" bound to {type(self._executor).__name__}"
        return f"<{type(self).__name__} {', '.join(n for n, _ in self._pairs) or '(no parameters)'}{bound}>"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and cast("Query[Any, Any]", other)._pairs == self._pairs

    def __hash__(self) -> int:
        return hash((type(self), self._pairs))

    # ---------------------------------------------------------------------- capability checking

    def check(self, capabilities: Any) -> list[str]:
        """What in this query the server's CapabilityStatement does not declare (empty: all supported).

        ``capabilities`` is a CapabilityStatement model or its JSON dict (``clinik.capabilities()``).
        Messages name parameters, never values.
        """
        guard_tenant_params(self._pairs)
        return problems_for(capabilities, self.resource_type, self._pairs)

    def ensure_supported(self, capabilities: Any) -> Self:
        """Raise :class:`UnsupportedSearchError` listing every unsupported part; return the query."""
        problems = self.check(capabilities)
        if problems:
            raise UnsupportedSearchError(self.resource_type, problems)
        return self

    # -------------------------------------------------------------------------------- execution

    def _bound(self) -> tuple[Any, bool]:
        executor = self._executor
        if executor is None:
            raise InvalidArgumentError(
                f"this {type(self).__name__} is not bound to a client: use clinik.search(...) to execute it"
            )
        return executor, inspect.iscoroutinefunction(executor._execute_search)

    def _model(self) -> type[Resource]:
        from clinikfhir.models import resource_class

        return resource_class(self.resource_type)

    def _run(self, pairs: tuple[tuple[str, str], ...], post: bool) -> Any:
        executor, is_async = self._bound()
        if is_async:
            return self._run_async(executor, pairs, post)
        # the client checks against its CapabilityStatement when check_search_capabilities is on
        return executor._execute_search(self._model(), pairs, post=post, resource_type=self.resource_type)

    async def _run_async(self, executor: Any, pairs: tuple[tuple[str, str], ...], post: bool) -> Any:
        return await executor._execute_search(self._model(), pairs, post=post, resource_type=self.resource_type)

    @overload
    def get(self: Query[R, SyncExecutor], *, post: bool = False) -> Page[R]: ...
    @overload
    def get(self: Query[R, AsyncExecutor], *, post: bool = False) -> Coroutine[Any, Any, Page[R]]: ...
    def get(self, *, post: bool = False) -> Any:
        """The first page, typed. ``post=True`` sends ``POST [type]/_search`` with a form body, so
        values (which may carry PHI) stay out of URLs and logs."""
        return self._run(self._pairs, post)

    @overload
    def iter(self: Query[R, SyncExecutor], *, post: bool = False) -> Iterator[R]: ...
    @overload
    def iter(self: Query[R, AsyncExecutor], *, post: bool = False) -> AsyncIterator[R]: ...
    def iter(self, *, post: bool = False) -> Any:
        """Every match, page after page, following ``next`` links lazily (the client only follows
        links on its configured origin)."""
        executor, is_async = self._bound()
        return self._iter_async(executor, post) if is_async else self._iter_sync(executor, post)

    def _iter_sync(self, executor: Any, post: bool) -> Iterator[Any]:
        page = self._run(self._pairs, post)
        while page is not None:
            yield from page.resources
            page = executor._next_page(page)

    async def _iter_async(self, executor: Any, post: bool) -> AsyncIterator[Any]:
        page = await self._run_async(executor, self._pairs, post)
        while page is not None:
            for resource in page.resources:
                yield resource
            page = await executor._next_page(page)

    @overload
    def first(self: Query[R, SyncExecutor], *, post: bool = False) -> R | None: ...
    @overload
    def first(self: Query[R, AsyncExecutor], *, post: bool = False) -> Coroutine[Any, Any, R | None]: ...
    def first(self, *, post: bool = False) -> Any:
        """The first match (one-entry page), or None."""
        pairs = self._replaced("_count", "1")._pairs
        _, is_async = self._bound()
        if is_async:
            return self._first_async(pairs, post)
        resources = self._run(pairs, post).resources
        return resources[0] if resources else None

    async def _first_async(self, pairs: tuple[tuple[str, str], ...], post: bool) -> Any:
        resources = (await self._run(pairs, post)).resources
        return resources[0] if resources else None

    def _count_matches(self) -> Any:
        pairs = tuple(p for p in self._replaced("_summary", "count")._pairs if p[0] != "_count")
        _, is_async = self._bound()
        if is_async:
            return self._count_async(pairs)
        return _total(self._run(pairs, False))

    async def _count_async(self, pairs: tuple[tuple[str, str], ...]) -> int:
        return _total(await self._run(pairs, False))


def _total(page: Any) -> int:
    total = page.total
    if not isinstance(total, int):
        raise UnsupportedSearchError("Bundle", ["the server did not report a total for _summary=count"])
    return total


def _escaped_id(value: str, where: str) -> str:
    if not isinstance(value, str) or not value:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidArgumentError(f"{where}: expected a non-empty id")
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")


_PLAIN_VALUE = re.compile(r"[A-Za-z0-9:/|,$@.\-_~]*")


@functools.lru_cache(maxsize=1024)
def _quote_name(name: str) -> str:
    return quote(name, safe=":._-$")


def _quote_value(value: str) -> str:
    # most values need no escaping: skip urllib's per-byte work for them
    return value if _PLAIN_VALUE.fullmatch(value) else quote(value, safe=":/|,$@.-_~")


def _raw_value(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidArgumentError(f"raw search parameter {name}: values are strings or ints")
    return str(value)


def _checked_raw(name: str, value: str) -> tuple[str, str]:
    if not isinstance(name, str) or not name or not isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidArgumentError("raw search parameters are (name, value) strings with a non-empty name")
    if any(c in name for c in "&=?#"):
        raise InvalidArgumentError("a search parameter name may not contain '&', '=', '?' or '#'")
    guard_tenant_tag(name, value)
    return name, value


__all__ = ["TENANT_SYSTEM", "AsyncExecutor", "Params", "ParamsArg", "Query", "SyncExecutor"]
