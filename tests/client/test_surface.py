"""Clinik and AsyncClinik offer the same surface: same public methods, same parameters, the async
ones awaitable; and ``import clinikfhir`` stays lazy."""

from __future__ import annotations

import inspect
import subprocess
import sys

from clinikfhir import AsyncClinik, Clinik


def _public(cls: type) -> dict[str, object]:
    return {n: m for n, m in inspect.getmembers(cls) if not n.startswith("__") and callable(m)}


def test_same_methods_with_the_same_parameters() -> None:
    sync, asyn = _public(Clinik), _public(AsyncClinik)
    assert set(sync) == set(asyn)
    for name, method in sync.items():
        a, b = inspect.signature(method), inspect.signature(asyn[name])  # type: ignore[arg-type]
        assert list(a.parameters) == list(b.parameters), name
        for p in a.parameters.values():
            q = b.parameters[p.name]
            assert (p.kind, p.default) == (q.kind, q.default), f"{name}({p.name})"


def test_io_methods_are_coroutines_on_the_async_client() -> None:
    io = [
        "read",
        "vread",
        "create",
        "update",
        "patch",
        "delete",
        "history",
        "everything",
        "validate",
        "capabilities",
        "transaction",
        "batch",
        "request",
        "operation",
        "close",
        "_execute_search",
        "_next_page",
    ]
    for name in io:
        assert inspect.iscoroutinefunction(getattr(AsyncClinik, name)), name
        assert not inspect.iscoroutinefunction(getattr(Clinik, name)), name
    assert inspect.isasyncgenfunction(AsyncClinik.iter_search)
    assert inspect.isasyncgenfunction(AsyncClinik.pages)


def test_importing_the_package_loads_neither_httpx_nor_models() -> None:
    code = (
        "import sys, clinikfhir; "
        "print(sorted(m for m in ('httpx', 'pydantic', 'fhir.resources', 'clinikfhir.client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_the_client_does_not_load_the_models() -> None:
    code = "import sys; from clinikfhir import Clinik; print('fhir.resources.R4B.patient' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_public_name_of_errors_is_a_root_name() -> None:
    import clinikfhir
    import clinikfhir.errors as errors

    classes = {n for n in errors.__all__ if isinstance(getattr(errors, n), type)}
    assert {"ClinikError", "NotFoundError", "ModelParseError", "UnsupportedSearchError"} <= classes
    assert set(errors.__all__) <= set(dir(clinikfhir)) & set(clinikfhir.__all__)
    for name in errors.__all__:
        assert getattr(clinikfhir, name) is getattr(errors, name)
    star: dict[str, object] = {}
    exec("from clinikfhir import *", star)
    assert set(errors.__all__) <= set(star)
    assert "Clinik" in star


def test_public_names_show_as_clinikfhir_and_still_pickle() -> None:
    import pickle

    import pydantic

    import clinikfhir
    from clinikfhir import ErrorIssue, Issue, NotFoundError, RetryPolicy, validate

    assert repr(NotFoundError) == "<class 'clinikfhir.NotFoundError'>"
    assert f"{Clinik.__module__}.{Clinik.__qualname__}" == "clinikfhir.Clinik"
    assert AsyncClinik.__module__ == RetryPolicy.__module__ == Issue.__module__ == validate.__module__ == "clinikfhir"
    assert clinikfhir.JsonPatch.__module__ == clinikfhir.ref.__module__ == "clinikfhir"
    error = NotFoundError(
        "gone", status=404, code="NOT_FOUND", request_id="req_1", issues=[ErrorIssue("error", "x", "d")]
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NotFoundError
    assert (copy.status, copy.code, copy.request_id, copy.issues) == (404, "NOT_FOUND", "req_1", error.issues)
    for value in (Issue("error", "invalid", "Patient.gender", "bad", "binding"), RetryPolicy(max_retries=1)):
        assert pickle.loads(pickle.dumps(value)) == value
    assert pickle.loads(pickle.dumps(validate)) is clinikfhir.validate
    # a dataclass's annotations still resolve (pydantic builds on them, looking names up in __module__)
    issue = pydantic.TypeAdapter(Issue).validate_python({"severity": "error", "code": "x", "path": "p", "message": "m"})
    assert issue == Issue("error", "x", "p", "m")


def test_every_public_class_and_function_of_the_root_shows_as_clinikfhir() -> None:
    import inspect
    import pickle

    import clinikfhir
    from clinikfhir import ResponseMeta

    shown = {
        name: getattr(clinikfhir, name).__module__
        for name in clinikfhir.__all__
        if inspect.isclass(getattr(clinikfhir, name)) or inspect.isfunction(getattr(clinikfhir, name))
    }
    assert len(shown) > 40
    assert {n: m for n, m in shown.items() if m != "clinikfhir"} == {}
    meta = ResponseMeta(status=200, request_id="req_1", attempts=2)
    assert pickle.loads(pickle.dumps(meta)) == meta
    assert repr(meta).startswith("ResponseMeta(status=200")


def test_error_class_reads_only_the_classes_of_clinikfhir() -> None:
    from clinikfhir.errors import NotFoundError, ServerError, error_class

    class MyNotFound(NotFoundError):  # a caller's subclass, with a table entry of its own
        matches = ((404, "MINE"), (418, None))

    assert error_class(404) is NotFoundError
    assert error_class(404, "MINE") is NotFoundError
    assert error_class(418).__name__ == "ApiError"
    assert error_class(503) is ServerError


def test_importing_the_package_does_not_import_the_errors() -> None:
    code = "import sys, clinikfhir; print('clinikfhir.errors' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_public_surface_shows_only_the_api() -> None:
    internals = {"config", "build_request", "guard_resource", "remember", "check_search_call"}
    for cls in (Clinik, AsyncClinik):
        public = {n for n in dir(cls) if not n.startswith("_")}
        assert not {n for n in public if n.startswith("call_")}, cls
        assert not public & internals, cls
    with Clinik("clk_test_abc") as clinik:
        public = {n for n in dir(clinik) if not n.startswith("_")}
        assert not public & internals
        assert not {n for n in public if n.startswith("call_")}


def test_the_core_package_does_not_import_bundle() -> None:
    code = "import sys, clinikfhir._core; print('clinikfhir.bundle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
