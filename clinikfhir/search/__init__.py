"""The typed, fluent FHIR search builder: one generated query class per R4 resource type.

>>> from clinikfhir.search import ObservationQuery
>>> q = ObservationQuery().code("8867-4").date.ge("2024-01-01").sort("-date").page_size(50)
>>> q.query_string()
'code=8867-4&date=ge2024-01-01&_sort=-date&_count=50'

Bound to a client (``clinik.search.Observation``, or ``clinik.search(Observation)``) the same query
runs: ``page()`` (first page), ``iter()`` and ``pages()`` (following ``next`` links), ``first()``, ``one()``,
``count()`` (the number of matches); awaitable / async iterable on ``AsyncClinik``. ``page(post=True)`` sends
``POST [type]/_search``.

**Python names of parameters.** ``-`` becomes ``_`` (``address-city`` -> ``address_city``);
camelCase becomes snake_case; a leading ``_`` moves to the end (``_id`` -> ``id_``, ``_lastUpdated``
-> ``last_updated_``, ``_tag`` -> ``tag_``); Python keywords and builder method names get a trailing
``_`` (``class`` -> ``class_``). Wire names never change: ``q.address_city("X")`` sends
``address-city=X``. Sort keys and includes use the wire codes (``sort("-_lastUpdated")``).

**Values** are escaped per the spec (``\\`` ``,`` ``|`` ``$``); several values in one call are OR,
calling again is AND; ``raw(name, value)`` adds a pair verbatim. A ``_tag`` on the tenant system
``https://clinikapi.com/tenant`` is refused with :class:`~clinikfhir.errors.TenantGuardError`.

Query classes load lazily: importing this package imports none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from clinikfhir._generated import search_queries as _search_queries

from ._names import python_name

if TYPE_CHECKING:
    from clinikfhir._generated.search_queries import *  # noqa: F403
    from clinikfhir.errors import TenantGuardError, UnsupportedSearchError

    from ._params import (
        CompositeParam,
        DateParam,
        IdentifierParam,
        NumberParam,
        Params,
        QuantityParam,
        ReferenceParam,
        Sortable,
        SortKey,
        SpecialParam,
        StringParam,
        TokenParam,
        UriParam,
    )
    from ._query import TENANT_SYSTEM, AsyncExecutor, ParamsArg, PartialQuery, Query, SyncExecutor
    from ._values import Prefixed, QuantityValue, escape, split_unescaped, unescape

# Imported on first use, like the query classes: ``import clinikfhir.search`` stays cheap.
_LAZY = {
    **dict.fromkeys(("TenantGuardError", "UnsupportedSearchError"), "clinikfhir.errors"),
    **dict.fromkeys(
        (
            "CompositeParam",
            "DateParam",
            "IdentifierParam",
            "NumberParam",
            "Params",
            "QuantityParam",
            "ReferenceParam",
            "Sortable",
            "SortKey",
            "SpecialParam",
            "StringParam",
            "TokenParam",
            "UriParam",
        ),
        "clinikfhir.search._params",
    ),
    **dict.fromkeys(
        ("TENANT_SYSTEM", "AsyncExecutor", "ParamsArg", "PartialQuery", "Query", "SyncExecutor"),
        "clinikfhir.search._query",
    ),
    **dict.fromkeys(
        ("Prefixed", "QuantityValue", "escape", "split_unescaped", "unescape"), "clinikfhir.search._values"
    ),
}

__all__ = [
    "TENANT_SYSTEM",
    "AsyncExecutor",
    "CompositeParam",
    "DateParam",
    "IdentifierParam",
    "NumberParam",
    "Params",
    "ParamsArg",
    "PartialQuery",
    "Prefixed",
    "QuantityParam",
    "QuantityValue",
    "Query",
    "ReferenceParam",
    "SortKey",
    "Sortable",
    "SpecialParam",
    "StringParam",
    "SyncExecutor",
    "TenantGuardError",
    "TokenParam",
    "UnsupportedSearchError",
    "UriParam",
    "escape",
    "python_name",
    "query_class",
    "split_unescaped",
    "unescape",
]
# Every generated ``<Type>Query`` / ``<Type>Params`` class, as explicit re-exports for pyright and mypy.
__all__ += _search_queries.__all__


def query_class(model: Any) -> type[Query[Any, Any]]:
    """The generated query class for a model class or a resource type name (``"Observation"``)."""
    from clinikfhir._generated.search_queries import QUERY_MODULES

    name: Any = model
    if not isinstance(model, str):
        getter = getattr(model, "get_resource_type", None)
        name = getter() if callable(getter) else None
    module = QUERY_MODULES.get(name) if isinstance(name, str) else None
    if module is None:
        from clinikfhir.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"no FHIR R4 resource type {name!r} to search; pass a model class such as Observation, "
            'or the type name ("MedicinalProduct") for the R4-only types'
        )
    cls: type[Query[Any, Any]] = getattr(importlib.import_module(module), f"{name}Query")
    return cls


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    for suffix in ("Query", "Params"):
        if name.endswith(suffix):
            from clinikfhir._generated.search_queries import QUERY_MODULES

            module = QUERY_MODULES.get(name[: -len(suffix)])
            if module is not None:
                value = getattr(importlib.import_module(module), name)
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
