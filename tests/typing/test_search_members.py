"""The search parameters of every generated ``<Type>Params`` class, and the chaining members of every
reference class, are declared twice: annotated attributes under ``if TYPE_CHECKING:`` (what type
checkers and editors read; pyright lists them without evaluating a type) and properties in the
``else:`` branch (what runs, and which the checkers never see). These tests hold the two together:
the same names in the same order, the same declared types and docstrings, and each run-time property
returns an instance of exactly the class its annotation names, for all 146 types."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

from clinikfhir._generated import search_queries
from clinikfhir.search import ReferenceParam

ROOT = Path(inspect.getfile(search_queries)).parent
MODULES = sorted(ROOT.glob("*.py")) + sorted((ROOT / "_refs").glob("*.py"))


def _doc(body: list[ast.stmt], i: int) -> str:
    node = body[i] if i < len(body) else None
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        return inspect.cleandoc(node.value.value)
    return ""


def _declared(cls: ast.ClassDef) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]] | None:
    """(checker view, run-time view) of a class: ``name -> (type, docstring)`` each; None without the split."""
    for node in cls.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            static = {
                stmt.target.id: (ast.unparse(stmt.annotation), _doc(node.body, i + 1))
                for i, stmt in enumerate(node.body)
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            }
            assert len(static) == sum(isinstance(s, ast.AnnAssign) for s in node.body)
            runtime = {}
            for stmt in node.orelse:
                assert isinstance(stmt, ast.FunctionDef), f"{cls.name}: only properties at run time"
                assert [ast.unparse(d) for d in stmt.decorator_list] == ["property"], f"{cls.name}.{stmt.name}"
                assert stmt.returns is not None
                runtime[stmt.name] = (ast.unparse(stmt.returns), ast.get_docstring(stmt) or "")
            return static, runtime
    return None


def _split_classes() -> dict[str, tuple[str, dict[str, tuple[str, str]], dict[str, tuple[str, str]]]]:
    out = {}
    for path in MODULES:
        module = "clinikfhir._generated.search_queries." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and (found := _declared(node)) is not None:
                out[node.name] = (module, *found)
    return out


SPLIT = _split_classes()


def test_every_params_and_reference_class_declares_its_members_for_the_checkers() -> None:
    params = {n for n in SPLIT if n.endswith("Params")}
    assert params == {f"{t}Params" for t in search_queries.QUERY_MODULES}
    assert {"RefDeviceGroupLocationPatient", "RefAnyResource", "RefPatient"} <= set(SPLIT)
    _module, static, _runtime = SPLIT["ObservationParams"]
    assert static["code"] == (
        "TokenParam[_Q]",
        "The code of the observation type\n\n``code`` (token): ``Observation.code``",
    )
    assert static["subject"][0] == "ObservationSubjectRef[_Q]"
    assert len(static) > 40


@pytest.mark.parametrize("name", sorted(SPLIT))
def test_checker_and_run_time_declarations_agree(name: str) -> None:
    module, static, runtime = SPLIT[name]
    assert list(static) == list(runtime), f"{name}: different members"
    assert static == runtime, f"{name}: different types or docstrings"
    assert all(doc for _type, doc in static.values()), f"{name}: a member without a docstring"
    cls = getattr(importlib.import_module(module), name)
    for member, (_type, doc) in static.items():
        prop = vars(cls)[member]
        assert isinstance(prop, property)
        assert inspect.cleandoc(prop.__doc__ or "") == doc


@functools.cache
def _references() -> dict[str, Any]:
    """Reference class name -> a live reference parameter whose class derives from it."""
    out: dict[str, Any] = {}
    for rtype, module in sorted(search_queries.QUERY_MODULES.items()):
        query = getattr(importlib.import_module(module), f"{rtype}Query")()
        for member in SPLIT[f"{rtype}Params"][1]:
            value = getattr(query, member)
            if isinstance(value, ReferenceParam):
                for base in type(value).__mro__:
                    out.setdefault(base.__name__, value)
    return out


def _instance(name: str, module: str) -> Any:
    """A live instance of a split class: a ``<Type>Query`` for params, a reference parameter using it for refs."""
    if name.endswith("Params"):
        return getattr(importlib.import_module(module), name.removesuffix("Params") + "Query")()
    assert name in _references(), f"no reference parameter uses {name}"
    return _references()[name]


@pytest.mark.parametrize("name", sorted(SPLIT))
def test_each_run_time_member_returns_the_declared_class(name: str) -> None:
    module, static, _runtime = SPLIT[name]
    instance = _instance(name, module)
    for member, (annotation, _doc_text) in static.items():
        value = getattr(instance, member)
        assert type(value).__name__ == annotation.split("[", 1)[0], f"{name}.{member}: {type(value).__name__}"
