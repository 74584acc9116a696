"""The SQL fragments the compiler builds, and the bounds every statement keeps."""

# SQL text here is assembled only from fixed table names and generated aliases; every value is bound
# as a parameter.

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._model import SearchError

MAX_SQL_VALUES = 20_000  # bound values in one statement (SQLite allows 32,766)

ROW = "row_"  # the placeholder alias a value condition is built on (see on)
_ROW_RE = re.compile(r"\brow_\.")


def on(condition: str, alias: str) -> str:
    """A condition built on the placeholder row alias :data:`ROW`, placed on ``alias``."""
    return _ROW_RE.sub(f"{alias}.", condition)


def bad_value(name: str) -> SearchError:
    """A 400 naming the parameter (never its value)."""
    return SearchError(400, "INVALID_PARAMETER", f"Invalid value for search parameter '{name}'")


def any_of(conditions: Sequence[str]) -> str:
    """``(a) OR (b) OR ...`` as a balanced tree of parentheses: SQLite limits the depth of an
    expression (1,000), and a flat OR of n terms is n deep; this one is 2*log2(n)."""
    if len(conditions) <= 8:
        return " OR ".join(f"({c})" for c in conditions)
    half = len(conditions) // 2
    return f"({any_of(conditions[:half])}) OR ({any_of(conditions[half:])})"


@dataclass
class Sql:
    sql: str
    args: list[Any] = field(default_factory=lambda: [])
    alias: str = ""
    exists: Sql | None = None  # the same condition as a correlated EXISTS, when there is one
    selective: bool = True  # worth driving the query from (an index lookup on equality)
    weak: bool = False  # a range driver: used only when no equality condition can drive
    hint: str = ""  # an INDEXED BY clause for the driver (the planner favours the PK for DISTINCT)
    table: str = ""  # for a simple condition: the index table and param rows it reads ...
    driver: Sql | None = None  # ... and the condition on that table under the resource's alias
    direct: Sql | None = None  # a condition on the alias's own sp_resource row (when that is the source)
    rows: tuple[str, str, Sql] | None = None  # EXISTS of (table, param) rows meeting a condition on ROW
    keyed: bool = False  # a planned id set that also selects the first sort key as column k0


def check_size(query: Sql) -> None:
    """A 400 when one statement would bind more than :data:`MAX_SQL_VALUES` values."""
    if len(query.args) > MAX_SQL_VALUES:
        raise SearchError(400, "INVALID_PARAMETER", "The search has too many values")
