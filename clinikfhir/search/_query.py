"""The immutable query: parameters in order, result parameters, rendering, and execution on a client.

Generated per-type classes (``ObservationQuery`` ...) derive from :class:`Query` and add one typed
member per search parameter plus typed ``sort``/``include``/``revinclude``. Every method returns a
new query, so a base query can be shared and extended safely.

A query is generic in the executor it is bound to (``None`` when built standalone): bound to
``Clinik``, ``page()`` returns ``Page[R]``; bound to ``AsyncClinik`` it returns an awaitable, and
``iter()`` an async iterator. Unbound, execution methods are type errors.
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, Self, cast, overload
from urllib.parse import quote

from typing_extensions import TypeVar

from clinikfhir._tenant_guard import guard_tenant_params, guard_tenant_tag
from clinikfhir._wire import TENANT_SYSTEM
from clinikfhir.errors import InvalidArgumentError, UnsupportedSearchError

from ._capabilities import problems_for
from ._names import python_name
from ._params import Params, Root, Sortable, SortKey

if TYPE_CHECKING:
    from clinikfhir.bundle import Page, PartialPage
    from clinikfhir.models import Resource

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
    >>> ObservationQuery().code("8867-4").date.ge("2024-01-01").sort("-date").page_size(50).query_string()
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

    def _has(self, source: Callable[[Root[Self], str], P], via: str) -> P:
        """Reverse chaining (``_has``), the run-time half of each generated query's typed ``has``.

        ``PatientQuery().has(ObservationParams, "patient").code("1234-5")``
        -> ``_has:Observation:patient:code=1234-5``. ``source`` is the other type's ``...Params``
        class; the result offers that type's parameters and returns this query. The generated
        ``has`` types ``via`` as the link names that can point at this type (``"subjct"`` is a type
        error); here the exact pair is checked against the search parameter table.
        """
        source_type = getattr(source, "resource_type", None)
        if not isinstance(source_type, str):
            raise InvalidArgumentError("has(): pass a generated ...Params class, e.g. ObservationParams")
        from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

        params = SEARCH_PARAMETERS.get(source_type, {})
        param = params.get(via)
        if param is None or param.type != "reference":
            links = sorted(c for c, d in params.items() if d.type == "reference" and self.resource_type in d.targets)
            hint = f"; its links to {self.resource_type} are: {', '.join(links)}" if links else ""
            raise InvalidArgumentError(f"has(): {source_type} has no reference search parameter {via!r}{hint}")
        if self.resource_type not in param.targets:
            raise InvalidArgumentError(f"has(): {source_type}.{via} cannot point at a {self.resource_type}")
        return source(cast("Root[Self]", self), f"_has:{source_type}:{via}:")

    def in_list(self, list_id: str) -> Self:
        """``_list``: only resources in the List with this id."""
        return self._appended("_list", _escaped_id(list_id, "_list"))

    # ----------------------------------------------------------------------------- result params

    def _sort(self, keys: Sequence[object]) -> Self:
        """The run-time half of each generated query's typed ``sort``: every key is checked."""
        if not keys:
            raise InvalidArgumentError("_sort: give at least one key")
        return self._replaced("_sort", ",".join(self._sort_key(k) for k in keys))

    def _sort_key(self, key: object) -> str:
        if isinstance(key, Sortable):
            key = key.asc()  # pyright: ignore[reportUnknownVariableType]
        if isinstance(key, SortKey):
            sort_key: SortKey[Any] = key  # pyright: ignore[reportUnknownVariableType]
            node = sort_key.param._node  # pyright: ignore[reportPrivateUsage]
            if node._prefix:  # pyright: ignore[reportPrivateUsage]
                raise InvalidArgumentError("_sort: a chained or _has parameter cannot be a sort key")
            if node.resource_type != self.resource_type:
                raise InvalidArgumentError(
                    f"_sort: a {node.resource_type} parameter cannot sort a search on {self.resource_type}"
                )
            return sort_key.wire
        if not isinstance(key, str):
            raise InvalidArgumentError(
                f"_sort: expected a parameter code such as '-date' or a typed key such as q.date.desc(), "
                f"got {type(key).__name__}"
            )
        from clinikfhir._generated.search_parameters import SEARCH_PARAMETERS

        params = SEARCH_PARAMETERS.get(self.resource_type, {})
        code = key[1:] if key.startswith("-") else key
        definition = params.get(code)
        if definition is not None and definition.type not in ("composite", "special"):
            return key
        if definition is not None:
            raise InvalidArgumentError(
                f"_sort: {self.resource_type} cannot sort by the {definition.type} parameter {code!r}"
            )
        by_python = {python_name(c): c for c, d in params.items() if d.type not in ("composite", "special")}
        wire = by_python.get(code)
        if wire is not None:
            sign = "-" if key.startswith("-") else ""
            member = f"q.{code}.{'desc' if sign else 'asc'}()"
            raise InvalidArgumentError(
                f"_sort: {code!r} is the Python name; sort keys are wire codes: sort({sign + wire!r}) or sort({member})"
            )
        raise InvalidArgumentError(f"_sort: {self.resource_type} has no search parameter {code!r} to sort by")

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

    def page_size(self, size: int) -> Self:
        """``_count``: at most ``size`` matches per page (the server may cap it). Not the number of
        matches: that is :meth:`count`."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidArgumentError("_count: the page size is a non-negative int")
        return self._replaced("_count", str(size))

    @overload
    def count(self, page_size: int, /) -> Self: ...
    @overload
    def count(self: Query[R, SyncExecutor], /) -> int: ...
    @overload
    def count(self: Query[R, AsyncExecutor], /) -> Coroutine[Any, Any, int]: ...
    def count(self, page_size: int | None = None, /) -> Any:
        """How many resources match: asks the server (``_summary=count``) and returns the number
        (awaitable on ``AsyncClinik``). The page size is :meth:`page_size`.

        ``count(n)`` (the old spelling of ``page_size(n)``) still works with a ``DeprecationWarning``.
        """
        if page_size is None:
            return self._count_matches()
        warnings.warn(
            "count(n) sets the page size (_count); use page_size(n). count() returns the number of matches",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.page_size(page_size)

    def elements(self, *names: str) -> PartialQuery[R, E]:
        """``_elements``: return only these top-level elements (plus mandatory ones).

        The answer is partial (required elements may be missing), so this returns a
        :class:`PartialQuery` whose pages are :class:`~clinikfhir.bundle.PartialPage`, not ``Page``:
        call it last, after the search parameters.
        """
        if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidArgumentError("_elements: give element names such as 'id', 'code'")
        return PartialQuery(self._replaced("_elements", ",".join(names)))

    @overload
    def summary(self, mode: Literal["false"]) -> Self: ...
    @overload
    def summary(self, mode: Literal["true", "text", "data", "count"] = "true") -> PartialQuery[R, E]: ...
    def summary(self, mode: Literal["true", "false", "text", "data", "count"] = "true") -> Self | PartialQuery[R, E]:
        """``_summary``: ``true`` (summary elements), ``text``, ``data``, ``count`` (total only), ``false``.

        Every mode but ``false`` makes the answer partial: it returns a :class:`PartialQuery` (call
        it last); ``summary("false")`` (whole resources) returns the query itself.
        """
        if mode not in ("true", "false", "text", "data", "count"):
            raise InvalidArgumentError("_summary: expected true, false, text, data or count")
        query = self._replaced("_summary", mode)
        return query if mode == "false" else PartialQuery(query)

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
    def page(self: Query[R, SyncExecutor], *, post: bool = False) -> Page[R]: ...
    @overload
    def page(self: Query[R, AsyncExecutor], *, post: bool = False) -> Coroutine[Any, Any, Page[R]]: ...
    def page(self, *, post: bool = False) -> Any:
        """The first page, typed (``Page[R]``). ``post=True`` sends ``POST [type]/_search`` with a form
        body, so values (which may carry PHI) stay out of URLs and logs. All pages: :meth:`pages`."""
        return self._run(self._pairs, post)

    @overload
    def get(self: Query[R, SyncExecutor], *, post: bool = False) -> Page[R]: ...
    @overload
    def get(self: Query[R, AsyncExecutor], *, post: bool = False) -> Coroutine[Any, Any, Page[R]]: ...
    def get(self, *, post: bool = False) -> Any:
        """Deprecated spelling of :meth:`page` (in fhirpy ``get()`` means exactly one: here :meth:`one`)."""
        warnings.warn(
            "query.get() returns the first page: use page(); one() returns exactly one resource",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._run(self._pairs, post)

    @overload
    def pages(self: Query[R, SyncExecutor], *, post: bool = False) -> Iterator[Page[R]]: ...
    @overload
    def pages(self: Query[R, AsyncExecutor], *, post: bool = False) -> AsyncIterator[Page[R]]: ...
    def pages(self, *, post: bool = False) -> Any:
        """Every page, the first one first, following ``next`` links lazily (``async for`` on ``AsyncClinik``)."""
        return self._pages(post, _same)

    @overload
    def iter(self: Query[R, SyncExecutor], *, post: bool = False) -> Iterator[R]: ...
    @overload
    def iter(self: Query[R, AsyncExecutor], *, post: bool = False) -> AsyncIterator[R]: ...
    def iter(self, *, post: bool = False) -> Any:
        """Every match, page after page, following ``next`` links lazily (the client only follows
        links on its configured origin)."""
        return self._iter(post, _same)

    @overload
    def first(self: Query[R, SyncExecutor], *, post: bool = False) -> R | None: ...
    @overload
    def first(self: Query[R, AsyncExecutor], *, post: bool = False) -> Coroutine[Any, Any, R | None]: ...
    def first(self, *, post: bool = False) -> Any:
        """The first match, or None. Asks for a one-entry page (``_count=1``) unless the query sets its
        own :meth:`page_size`, which is then sent as is."""
        return self._first(post, _same)

    @overload
    def one(self: Query[R, SyncExecutor], *, post: bool = False) -> R: ...
    @overload
    def one(self: Query[R, AsyncExecutor], *, post: bool = False) -> Coroutine[Any, Any, R]: ...
    def one(self, *, post: bool = False) -> Any:
        """The only match: raises :class:`~clinikfhir.errors.NoMatchError` when nothing matches and
        :class:`~clinikfhir.errors.MultipleMatchesError` when several do (fhirpy's ``get()``).

        Asks for at most two (``_count=2``), which is enough to tell one from several."""
        pairs = self._replaced("_count", "2")._pairs
        _, is_async = self._bound()
        if is_async:
            return self._one_async(pairs, post)
        return _only(self._run(pairs, post), self.resource_type)

    async def _one_async(self, pairs: tuple[tuple[str, str], ...], post: bool) -> Any:
        return _only(await self._run(pairs, post), self.resource_type)

    # ------------------------------------------------- execution shared with PartialQuery (wrap)

    def _pages(self, post: bool, wrap: Callable[[Any], Any]) -> Any:
        executor, is_async = self._bound()
        return self._pages_async(executor, post, wrap) if is_async else self._pages_sync(executor, post, wrap)

    def _pages_sync(self, executor: Any, post: bool, wrap: Callable[[Any], Any]) -> Iterator[Any]:
        page = self._run(self._pairs, post)
        while page is not None:
            yield wrap(page)
            page = executor._next_page(page)

    async def _pages_async(self, executor: Any, post: bool, wrap: Callable[[Any], Any]) -> AsyncIterator[Any]:
        page = await self._run_async(executor, self._pairs, post)
        while page is not None:
            yield wrap(page)
            page = await executor._next_page(page)

    def _iter(self, post: bool, wrap: Callable[[Any], Any]) -> Any:
        executor, is_async = self._bound()
        return self._iter_async(executor, post, wrap) if is_async else self._iter_sync(executor, post, wrap)

    def _iter_sync(self, executor: Any, post: bool, wrap: Callable[[Any], Any]) -> Iterator[Any]:
        for page in self._pages_sync(executor, post, wrap):
            yield from page.resources

    async def _iter_async(self, executor: Any, post: bool, wrap: Callable[[Any], Any]) -> AsyncIterator[Any]:
        async for page in self._pages_async(executor, post, wrap):
            for resource in page.resources:
                yield resource

    def _first(self, post: bool, wrap: Callable[[Any], Any]) -> Any:
        pairs = self._pairs if any(n == "_count" for n, _ in self._pairs) else self._replaced("_count", "1")._pairs
        _, is_async = self._bound()
        if is_async:
            return self._first_async(pairs, post, wrap)
        resources = wrap(self._run(pairs, post)).resources
        return resources[0] if resources else None

    async def _first_async(self, pairs: tuple[tuple[str, str], ...], post: bool, wrap: Callable[[Any], Any]) -> Any:
        resources = wrap(await self._run(pairs, post)).resources
        return resources[0] if resources else None

    def _count_matches(self) -> Any:
        pairs = tuple(p for p in self._replaced("_summary", "count")._pairs if p[0] not in ("_count", "_elements"))
        _, is_async = self._bound()
        if is_async:
            return self._count_async(pairs)
        return _total(self._run(pairs, False))

    async def _count_async(self, pairs: tuple[tuple[str, str], ...]) -> int:
        return _total(await self._run(pairs, False))


class PartialQuery(Generic[R, E]):
    """A search whose answer leaves elements out (``_elements`` or ``_summary``): required elements
    may be missing, so its pages are :class:`~clinikfhir.bundle.PartialPage`, never a ``Page[R]``
    that code expecting whole resources would accept.

    Made by :meth:`Query.elements` / :meth:`Query.summary`; runs like the query (``page``, ``pages``,
    ``iter``, ``first``, ``count``) and renders like it (``params``, ``query_string``).
    """

    __slots__ = ("query",)

    def __init__(self, query: Query[R, E]) -> None:
        self.query = query  #: the whole query, ``_elements`` / ``_summary`` included

    def params(self) -> tuple[tuple[str, str], ...]:
        """The parameters as decoded ``(name, value)`` pairs, in order."""
        return self.query.params()

    def query_string(self) -> str:
        """The URL query string."""
        return self.query.query_string()

    def check(self, capabilities: Any) -> list[str]:
        """What the server's CapabilityStatement does not declare (see :meth:`Query.check`)."""
        return self.query.check(capabilities)

    def ensure_supported(self, capabilities: Any) -> Self:
        """Raise :class:`UnsupportedSearchError` listing every unsupported part; return self."""
        self.query.ensure_supported(capabilities)
        return self

    def __repr__(self) -> str:
        return f"<Partial {self.query!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartialQuery) and other.query == self.query  # pyright: ignore[reportUnknownMemberType]

    def __hash__(self) -> int:
        return hash(("partial", self.query))

    @overload
    def page(self: PartialQuery[R, SyncExecutor], *, post: bool = False) -> PartialPage[R]: ...
    @overload
    def page(self: PartialQuery[R, AsyncExecutor], *, post: bool = False) -> Coroutine[Any, Any, PartialPage[R]]: ...
    def page(self, *, post: bool = False) -> Any:
        """The first page, as a :class:`~clinikfhir.bundle.PartialPage`."""
        executor, is_async = self.query._bound()  # pyright: ignore[reportPrivateUsage]
        if is_async:
            return self._page_async(executor, post)
        return _partial(self.query._run(self.query._pairs, post))  # pyright: ignore[reportPrivateUsage]

    async def _page_async(self, executor: Any, post: bool) -> Any:
        return _partial(await self.query._run_async(executor, self.query._pairs, post))  # pyright: ignore[reportPrivateUsage]

    @overload
    def pages(self: PartialQuery[R, SyncExecutor], *, post: bool = False) -> Iterator[PartialPage[R]]: ...
    @overload
    def pages(self: PartialQuery[R, AsyncExecutor], *, post: bool = False) -> AsyncIterator[PartialPage[R]]: ...
    def pages(self, *, post: bool = False) -> Any:
        """Every page, following ``next`` links lazily."""
        return self.query._pages(post, _partial)  # pyright: ignore[reportPrivateUsage]

    @overload
    def iter(self: PartialQuery[R, SyncExecutor], *, post: bool = False) -> Iterator[R]: ...
    @overload
    def iter(self: PartialQuery[R, AsyncExecutor], *, post: bool = False) -> AsyncIterator[R]: ...
    def iter(self, *, post: bool = False) -> Any:
        """Every (partial) match: required elements may be missing from each."""
        return self.query._iter(post, _partial)  # pyright: ignore[reportPrivateUsage]

    @overload
    def first(self: PartialQuery[R, SyncExecutor], *, post: bool = False) -> R | None: ...
    @overload
    def first(self: PartialQuery[R, AsyncExecutor], *, post: bool = False) -> Coroutine[Any, Any, R | None]: ...
    def first(self, *, post: bool = False) -> Any:
        """The first (partial) match, or None."""
        return self.query._first(post, _partial)  # pyright: ignore[reportPrivateUsage]

    @overload
    def count(self: PartialQuery[R, SyncExecutor], /) -> int: ...
    @overload
    def count(self: PartialQuery[R, AsyncExecutor], /) -> Coroutine[Any, Any, int]: ...
    def count(self, /) -> Any:
        """How many resources match (``_summary=count``)."""
        return self.query._count_matches()  # pyright: ignore[reportPrivateUsage]


def _same(page: Any) -> Any:
    return page


def _partial(page: Any) -> Any:
    from clinikfhir.bundle import PartialPage

    return PartialPage.of(page)


def _only(page: Any, resource_type: str) -> Any:
    from clinikfhir.bundle import single

    return single(page, "one()")


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


__all__ = ["TENANT_SYSTEM", "AsyncExecutor", "Params", "ParamsArg", "PartialQuery", "Query", "SyncExecutor"]
