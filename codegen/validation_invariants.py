"""Compile the FHIRPath invariants of R4 (the ``constraint`` expressions) to plain Python functions.

Output: ``clinikfhir/_generated/invariants.py`` with one function per invariant key whose expression
uses only the common shapes (paths, ``exists``/``empty``/``count``/``where``/``all``/``select``,
boolean logic, comparisons, ``matches``, string functions...). Each takes ``(focus, resource,
root)``: the context element as a one-item list and the JSON of ``%resource`` / ``%rootResource``; it
returns a FHIRPath collection. The runtime helpers live in ``clinikfhir.validation._fp``.

Expressions outside that subset (type tests ``is``/``as``/``ofType``, ``resolve()``...) are listed in
``FALLBACK`` with their expression, for ``fhirpathpy`` at run time. ``ctm-1`` (needs ``resolve()``), ``ele-1``,
``ext-1``, ``dom-3``, ``ref-1``, ``txt-1`` and ``txt-2`` are checked natively by the validator and are in ``NATIVE``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._common import GENERATED, header, load

NATIVE = ("ctm-1", "dom-3", "ele-1", "ext-1", "ref-1", "txt-1", "txt-2")


class Unsupported(Exception):
    """The expression uses something the compiler does not translate."""


def _choice_names() -> frozenset[str]:
    sds = load("structure-definitions.json")["structureDefinitions"]
    return frozenset(
        e["path"].rsplit(".", 1)[-1][:-3] for sd in sds for e in sd["elements"] if e["path"].endswith("[x]")
    )


CHOICES = _choice_names()

SIMPLE_FUNCTIONS = {
    # name: (helper, number of arguments)
    "empty": ("f_empty", 0),
    "not": ("f_not", 0),
    "count": ("f_count", 0),
    "hasValue": ("f_has_value", 0),
    "first": ("f_first", 0),
    "tail": ("f_tail", 0),
    "isDistinct": ("f_is_distinct", 0),
    "distinct": ("f_distinct", 0),
    "toInteger": ("f_to_integer", 0),
    "toString": ("f_to_string", 0),
    "length": ("f_length", 0),
    "children": ("f_children", 0),
    "descendants": ("f_descendants", 0),
    "matches": ("f_matches", 1),
    "startsWith": ("f_starts_with", 1),
    "endsWith": ("f_ends_with", 1),
    "contains": ("f_contains_str", 1),
    "replaceMatches": ("f_replace_matches", 2),
    "intersect": ("f_intersect", 1),
    "combine": ("f_combine", 1),
}
LAMBDA_FUNCTIONS = {"where": "f_where", "all": "f_all", "select": "f_select", "exists": "f_exists"}
OPERATORS = {
    "and": "op_and",
    "or": "op_or",
    "xor": "op_xor",
    "implies": "op_implies",
    "=": "op_eq",
    "!=": "op_ne",
    "~": "op_eq",
    "!~": "op_ne",
    "<": "op_lt",
    "<=": "op_le",
    ">": "op_gt",
    ">=": "op_ge",
    "in": "op_in",
    "contains": "op_contains",
    "|": "op_union",
    "&": "op_concat",
    "+": "op_plus",
    "-": "op_minus",
}


class _Compiler:
    def __init__(self) -> None:
        self.depth = 0

    def expr(self, node: dict[str, Any], focus: str) -> str:
        kind = node["type"]
        children = node.get("children", [])
        if kind in ("TermExpression", "ParenthesizedTerm", "InvocationTerm", "LiteralTerm"):
            if len(children) != 1:
                raise Unsupported(kind)
            return self.expr(children[0], focus)
        if kind == "MemberInvocation":
            return self.member(children[0], focus)
        if kind == "ThisInvocation":
            return focus
        if kind == "FunctionInvocation":
            return self.function(children[0], focus, focus)
        if kind == "InvocationExpression":
            left = self.expr(children[0], focus)
            right = children[1]
            if right["type"] == "MemberInvocation":
                return self.member(right["children"][0], left)
            if right["type"] == "FunctionInvocation":
                return self.function(right["children"][0], left, focus)
            raise Unsupported(right["type"])
        if kind == "StringLiteral":
            text = node["text"]
            return repr([_unquote(text)])
        if kind == "NumberLiteral":
            text = node["text"]
            return repr([float(text) if "." in text else int(text)])
        if kind == "BooleanLiteral":
            return repr([node["text"] == "true"])
        if kind == "NullLiteral":
            return "[]"
        if kind == "ExternalConstantTerm":
            name = node["children"][0]["children"][0]["text"] if node["children"][0].get("children") else ""
            name = name or node["children"][0].get("text", "")
            name = name.lstrip("%").strip("`")
            return {
                "resource": "[resource]",
                "rootResource": "[root]",
                "ucum": "['http://unitsofmeasure.org']",
                "context": focus,
            }.get(name) or _raise(name)
        if kind in OPERATORS_BY_NODE:
            op = node["terminalNodeText"][0]
            if op not in OPERATORS:
                raise Unsupported(op)
            left = self.expr(children[0], focus)
            right = self.expr(children[1], focus)
            return f"{OPERATORS[op]}({left}, {right})"
        if kind == "TypeExpression":
            return self.type_test(node, focus)
        if kind == "PolarityExpression":
            if node["terminalNodeText"][0] != "-":
                raise Unsupported("polarity")
            return f"op_minus([0], {self.expr(children[0], focus)})"
        raise Unsupported(kind)

    def type_test(self, node: dict[str, Any], focus: str) -> str:
        """``choice is T`` / ``choice as T`` on a choice element of the focus: decided by its JSON key."""
        subject, spec = node["children"]
        op = node["terminalNodeText"][0]
        name = subject.get("text", "")
        type_name = spec.get("text", "")
        if not (name.isidentifier() and name in CHOICES and type_name.isidentifier()):
            raise Unsupported("type test")
        key = name + type_name[0].upper() + type_name[1:]
        if op == "is":
            return f"f_exists_plain(nav({focus}, {key!r}, False))"
        if op == "as":
            return f"nav({focus}, {key!r}, False)"
        raise Unsupported(op)

    def member(self, ident: dict[str, Any], focus: str) -> str:
        name = ident["text"].strip("`")
        if name[0].isupper():
            # a type name used as the first step (``Appointment.status``): the focus itself
            return f"f_type_step({focus}, {name!r})"
        return f"nav({focus}, {name!r}, {name in CHOICES})"

    def function(self, functn: dict[str, Any], focus: str, this: str) -> str:
        """``focus`` is the function's input; its plain arguments are evaluated against ``this``."""
        parts = functn["children"]
        name = parts[0]["text"]
        params: list[dict[str, Any]] = parts[1]["children"] if len(parts) > 1 else []
        if name == "trace":
            return focus
        if name in SIMPLE_FUNCTIONS:
            helper, arity = SIMPLE_FUNCTIONS[name]
            if len(params) != arity:
                raise Unsupported(f"{name}/{len(params)}")
            args = "".join(", " + self.expr(p, this) for p in params)
            return f"{helper}({focus}{args})"
        if name == "substring":
            args = ", ".join(self.expr(p, this) for p in params)
            return f"f_substring({focus}, {args})"
        if name == "iif":
            if len(params) not in (2, 3):
                raise Unsupported("iif")
            cond, yes, *rest = (self.expr(p, this) for p in params)
            return f"f_iif({cond}, {yes}, {rest[0] if rest else '[]'})"
        if name == "is" and len(params) == 1 and params[0].get("text", "")[:1].isupper():
            # a resource type test (``resource.is(Composition)``); datatype tests need the model
            return f"f_is_resource({focus}, {params[0]['text']!r})"
        if name in LAMBDA_FUNCTIONS:
            if not params:
                return f"f_exists_plain({focus})" if name == "exists" else _raise(name)
            if len(params) != 1:
                raise Unsupported(name)
            self.depth += 1
            var = f"t{self.depth}"
            body = self.expr(params[0], f"[{var}]")
            self.depth -= 1
            return f"{LAMBDA_FUNCTIONS[name]}({focus}, lambda {var}: {body})"
        raise Unsupported(name)


OPERATORS_BY_NODE = {
    "OrExpression",
    "AndExpression",
    "ImpliesExpression",
    "EqualityExpression",
    "InequalityExpression",
    "MembershipExpression",
    "UnionExpression",
    "AdditiveExpression",
}


def _raise(what: str) -> str:
    raise Unsupported(what)


def _unquote(text: str) -> str:
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "f": "\f"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def compile_expression(expression: str) -> str:
    """The Python expression (over ``focus``, ``resource``, ``root``) for a FHIRPath expression."""
    parser: Any = importlib.import_module("fhirpathpy.parser")  # untyped: its tree is plain dicts
    tree: dict[str, Any] = parser.parse(expression)
    return _Compiler().expr(tree["children"][0], "focus")


def emit() -> dict[str, str]:
    constraints = load("structure-definitions.json")["constraints"]
    compiled: dict[str, str] = {}
    fallback: dict[str, str] = {}
    for key in sorted(constraints):
        if key in NATIVE:
            continue
        expression = constraints[key]["expression"]
        try:
            compiled[key] = compile_expression(expression)
        except Unsupported:
            fallback[key] = expression
    out = [
        header("codegen/validation_invariants.py", "structure-definitions.json"),
        '"""R4 invariants compiled from their FHIRPath to Python; the rest are evaluated by fhirpathpy.',
        "",
        "Each function takes (focus, resource, root): the context element as a one-item list and the JSON of",
        "%resource and %rootResource; it returns the FHIRPath result collection (the rule holds unless it",
        "is exactly [False]).",
        '"""',
        "",
        "from collections.abc import Callable",
        "from typing import Any, Final",
        "",
        "from clinikfhir.validation._fp import *  # noqa: F403",
        "",
        "Invariant = Callable[[list[Any], Any, Any], list[Any]]",
        "",
    ]
    names: dict[str, str] = {}
    for key, body in compiled.items():
        fn = "inv_" + key.replace("-", "_").replace("@", "_at_")
        names[key] = fn
        out.append("")
        out.append(f"def {fn}(focus: list[Any], resource: Any, root: Any) -> list[Any]:")
        out.append(f"    # {constraints[key]['expression']}".replace("\n", " "))
        out.append(f"    return {body}  # noqa: F405")
        out.append("")
    out.append("")
    out.append("COMPILED: Final[dict[str, Invariant]] = {")
    out.extend(f"    {key!r}: {fn}," for key, fn in names.items())
    out.append("}")
    out.append("")
    out.append("# evaluated at run time by fhirpathpy (outside the compiled subset)")
    out.append("FALLBACK: Final[dict[str, str]] = {")
    out.extend(f"    {key!r}: {expr!r}," for key, expr in fallback.items())
    out.append("}")
    out.append("")
    out.append(f"NATIVE: Final[frozenset[str]] = frozenset({NATIVE!r})")
    out.append("")
    out.append("# every invariant's FHIRPath expression, as published")
    out.append("EXPRESSIONS: Final[dict[str, str]] = {")
    out.extend(f"    {key!r}: {constraints[key]['expression']!r}," for key in sorted(constraints))
    out.append("}")
    out.append("")
    return {f"{GENERATED}/invariants.py": "\n".join(out)}
