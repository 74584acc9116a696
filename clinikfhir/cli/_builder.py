"""Builder syntax on the command line: ``'Observation.code("8867-4").date.ge("2024")'`` read into the
typed search builder (:mod:`clinikfhir.search`), never evaluated.

The text is parsed with :mod:`ast` into a chain of attribute accesses and calls on a resource type.
Each step must be a search parameter of the type (``code``, ``subject.Patient.name``), a modifier of
a parameter (``date.ge``, ``name.exact``, ``code.missing``) or one of the builder methods in
:data:`QUERY_METHODS`; each argument must be a literal (a string, a number, ``True``/``False``/
``None`` or a tuple or list of them). The typed builder then checks the values as it does in Python,
so a wrong kind of value gets the builder's own error. Nothing else (names, operators, subscripts,
other methods) is accepted: there is no ``eval``.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import re
from typing import Any, cast

from ._common import CliError

__all__ = ["QUERY_METHODS", "is_builder", "parse_builder"]

#: the builder methods allowed on a query besides its search parameters (no execution, no raw pairs)
QUERY_METHODS = frozenset({"sort", "include", "revinclude", "page_size", "total"})
_START = re.compile(r"^\s*[A-Z][A-Za-z]*\s*\.")


def is_builder(text: str) -> bool:
    """True for ``Type.param(...)...``; False for a query string (``Type?param=value`` or ``Type``)."""
    question, dot = text.find("?"), text.find(".")
    if question != -1 and (dot == -1 or question < dot):
        return False
    return bool(_START.match(text))


def _fail(text: str, node: ast.AST | None, message: str) -> CliError:
    """``builder syntax (column N): message``; for a step of the chain, N is where its name starts."""
    column = getattr(node, "col_offset", None)
    named = node.func if isinstance(node, ast.Call) else node
    if isinstance(named, ast.Attribute) and named.end_col_offset is not None:
        column = named.end_col_offset - len(named.attr)
    where = f" (column {column + 1})" if isinstance(column, int) else ""
    return CliError(f"builder syntax{where}: {message}")


def _literal(text: str, node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        message = "arguments must be literals: strings, numbers, True/False/None, tuples, lists"
        raise CliError(f"builder syntax (column {node.col_offset + 1}): {message}") from None


def _steps(text: str, tree: ast.expr) -> tuple[str, list[tuple[str, ast.expr | ast.Call]]]:
    """The root name and the chain of (attribute, node) from left to right; a call's node is the Call."""
    steps: list[tuple[str, ast.expr | ast.Call]] = []
    node: ast.expr = tree
    while True:
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Attribute):
                raise _fail(text, node, "only calls of a parameter or a builder method are allowed")
            steps.append((node.func.attr, node))
            node = node.func.value
        elif isinstance(node, ast.Attribute):
            steps.append((node.attr, node))
            node = node.value
        elif isinstance(node, ast.Name):
            steps.reverse()
            return node.id, steps
        else:
            raise _fail(text, node, 'expected a chain on a resource type, e.g. Observation.code("8867-4")')


def _allowed(obj: Any) -> dict[str, str]:
    """What may follow ``obj`` in a chain: name -> kind (``parameter``, ``modifier``, ``method``)."""
    from clinikfhir.search import Params, Query
    from clinikfhir.search._params import Param

    out: dict[str, str] = {}
    cls: type[object] = type(cast(object, obj))
    for name in dir(cls):
        if name.startswith("_"):
            continue
        member = inspect.getattr_static(cls, name)
        if isinstance(obj, Params) and isinstance(member, property):
            out[name] = "parameter"
        elif isinstance(obj, Query) and name in QUERY_METHODS:
            out[name] = "method"
        elif isinstance(obj, Param) and (inspect.isfunction(member) or isinstance(member, property)):
            out[name] = "modifier"
    return out


def _describe(obj: Any) -> str:
    from clinikfhir.search import Query
    from clinikfhir.search._params import Param

    if isinstance(obj, Query):
        return f"a search on {obj.resource_type}"
    if isinstance(obj, Param):
        kind, _, name = repr(cast(object, obj)).strip("<>").partition(" ")  # "<TokenParam code>"
        return f"the {kind.removesuffix('Param').lower() or 'search'} parameter {name!r}"
    return f"the {getattr(obj, 'resource_type', '?')} parameters"


def parse_builder(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``'Observation.code("8867-4").date.ge("2024")'`` -> ``("Observation", [("code", "8867-4"), ("date",
    "ge2024")])``; a :class:`CliError` naming the unknown parameter, modifier or method otherwise."""
    import clinikfhir.search as search
    from clinikfhir.errors import ClinikError
    from clinikfhir.models import RESOURCE_TYPES
    from clinikfhir.search import Query
    from clinikfhir.search._params import Param

    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise CliError(f"builder syntax (column {exc.offset or 0}): not a valid expression") from None
    rtype, steps = _steps(text, tree)
    if rtype not in RESOURCE_TYPES:
        close = difflib.get_close_matches(rtype, sorted(RESOURCE_TYPES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise CliError(f"builder syntax: {rtype!r} is not an R4 resource type{hint}")
    obj: Any = getattr(search, f"{rtype}Query")()
    for name, node in steps:
        allowed = _allowed(obj)
        if name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            kind = "modifier" if isinstance(obj, Param) else "search parameter or builder method"
            raise _fail(text, node, f"{_describe(obj)} has no {kind} {name!r}{hint}")
        try:
            obj = getattr(obj, name)
            if isinstance(node, ast.Call):
                args = [_literal(text, a) for a in node.args]
                kwargs: dict[str, Any] = {}
                for keyword in node.keywords:
                    if keyword.arg is None:
                        raise _fail(text, keyword.value, "**arguments are not allowed")
                    kwargs[keyword.arg] = _literal(text, keyword.value)
                obj = obj(*args, **kwargs)
        except CliError:
            raise
        except ClinikError as exc:
            raise _fail(text, node, str(exc).split("\n")[0]) from None
        except (TypeError, ValueError) as exc:
            raise _fail(text, node, f"{name}: {str(exc).split(chr(10))[0]}") from None
    if isinstance(obj, Param):
        last = steps[-1][0] if steps else "code"
        raise CliError(f"builder syntax: {_describe(obj)} needs a value: call it, as in .{last}(...)")
    if not isinstance(obj, Query):
        raise CliError("builder syntax: the chain must end with a search (a parameter call or a builder method)")
    return rtype, list(obj.params())
