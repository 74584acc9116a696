"""The names type checkers see are the names that exist at run time, and importing stays lazy.

``clinikfhir.models`` and ``clinikfhir.search`` extend their ``__all__`` with generated lists whose
classes are re-exported for type checkers only (``if TYPE_CHECKING:``); these tests read those
static imports back from the source and compare them with what the modules give at run time.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import clinikfhir.models
import clinikfhir.search
from clinikfhir import Clinik
from clinikfhir._generated import model_imports, search_queries
from clinikfhir._generated.model_index import MODEL_MODULES
from clinikfhir._generated.search_mixin import Search
from clinikfhir.sandbox import Sandbox


def _static_reexports(module: object) -> dict[str, str]:
    """``name -> source module`` of the ``from X import N as N`` lines under ``if TYPE_CHECKING:``."""
    tree = ast.parse(Path(inspect.getfile(module)).read_text())  # type: ignore[arg-type]
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    assert alias.asname == alias.name, f"{alias.name} is not an explicit re-export"
                    found[alias.name] = ("." * stmt.level) + (stmt.module or "")
    return found


def test_every_model_class_is_an_explicit_reexport_with_the_run_time_name() -> None:
    static = _static_reexports(model_imports)
    assert set(static) == set(MODEL_MODULES) == set(model_imports.__all__)
    assert len(MODEL_MODULES) > 600
    public = set(clinikfhir.models.__all__)
    assert set(MODEL_MODULES) <= public
    for name in ["Patient", "Observation", "HumanName", "EncounterLocation", "GenericResource", "parse"]:
        assert name in public
    # a sample resolves at run time to the fhir.resources R4B class the static import names
    for name in ["Patient", "Observation", "HumanName", "Bundle", "BundleEntry"]:
        cls = getattr(clinikfhir.models, name)
        assert cls.__name__ == name
        assert cls.__module__ == MODEL_MODULES[name]
        # the static side is the run-time class or its typed stub (codegen/model_types.py)
        typed = "clinikfhir._generated.model_types." + MODEL_MODULES[name].rsplit(".", 1)[1]
        assert static[name] in (MODEL_MODULES[name], typed)


def test_every_query_and_params_class_is_an_explicit_reexport() -> None:
    static = _static_reexports(search_queries)
    types = set(search_queries.QUERY_MODULES)
    assert len(types) > 140
    assert set(static) == {f"{t}{s}" for t in types for s in ("Query", "Params")} == set(search_queries.__all__)
    assert set(static) <= set(clinikfhir.search.__all__)
    for name in ["ObservationQuery", "PatientParams", "MedicinalProductQuery"]:
        value = getattr(clinikfhir.search, name)
        assert value.__name__ == name
        assert "." + value.__module__.rsplit(".", 1)[1] == static[name]


def test_every_public_name_resolves_at_run_time() -> None:
    for module in (clinikfhir.models, clinikfhir.search):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], f"{module.__name__}.__all__ names what it does not have: {missing}"


def test_importing_the_package_and_its_surfaces_loads_no_model_or_query_module() -> None:
    code = (
        "import sys, clinikfhir, clinikfhir.models, clinikfhir.search\n"
        "loaded = [m for m in sys.modules if m.startswith('fhir.resources.R4B.')"
        " or m.startswith('clinikfhir._generated.search_queries.')]\n"
        "print(len(clinikfhir.models.__all__), len(clinikfhir.search.__all__), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 600
    assert int(out[1]) > 280
    assert out[2:] == ["[]"]


def test_the_surfaces_import_their_helpers_on_first_use() -> None:
    """``import clinikfhir.models, clinikfhir.search`` loads only the name lists; the model I/O, the
    search builder and the errors come with the first name that needs them."""
    code = (
        "import sys, clinikfhir, clinikfhir.models, clinikfhir.search\n"
        "print(sorted(m for m in sys.modules if m.startswith('clinikfhir')))\n"
        "from clinikfhir.models import parse\n"
        "from clinikfhir.search import DateParam, TenantGuardError\n"
        "print(parse.__module__, DateParam.__module__, TenantGuardError.__name__, 'clinikfhir.errors' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert ast.literal_eval(out[0]) == [
        "clinikfhir",
        "clinikfhir._generated",
        "clinikfhir._generated.model_imports",
        "clinikfhir._generated.search_queries",
        "clinikfhir._version",
        "clinikfhir.models",
        "clinikfhir.search",
        "clinikfhir.search._names",
    ]
    assert out[1].split() == ["clinikfhir.models._io", "clinikfhir.search._params", "TenantGuardError", "True"]
    assert sorted(clinikfhir.models.__all__) == sorted(set(clinikfhir.models.__all__))
    assert {"parse", "Patient", "GenericResource", "ModelParseError"} <= set(dir(clinikfhir.models))
    assert {"DateParam", "ObservationQuery", "escape"} <= set(dir(clinikfhir.search))


def test_the_search_namespace_has_one_property_per_type_returning_the_bound_query() -> None:
    types = sorted(search_queries.QUERY_MODULES)
    properties = sorted(n for n, v in vars(Search).items() if isinstance(v, property))
    assert properties == types
    sandbox = Sandbox()
    try:
        with Clinik(sandbox.create_key("org_exports"), base_url=sandbox.base_url, transport=sandbox.transport()) as c:
            q = c.search.Observation.code("8867-4")
            assert type(q) is clinikfhir.search.ObservationQuery
            assert q.query_string() == "code=8867-4"
            assert q.page().resources == []
            assert type(c.search(clinikfhir.models.Observation)) is type(c.search.Observation)
            assert type(c.search.MedicinalProduct).__name__ == "MedicinalProductQuery"
            assert repr(c.search) == "<search on Clinik>"
    finally:
        sandbox.close()


def test_generated_search_classes_have_readable_names() -> None:
    """No hash in a class name users meet in hovers and errors: ``ObservationSubjectRef``, not ``Ref4_f49cc3f4``."""
    root = Path(inspect.getfile(search_queries)).parent
    names = {
        node.name
        for path in root.rglob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef)
    }
    assert len(names) > 900
    unreadable = sorted(n for n in names if not re.fullmatch(r"[A-Z][A-Za-z]*", n))
    assert unreadable == []
    assert {"ObservationSubjectRef", "PatientGeneralPractitionerRef", "RefAnyResource"} <= names
    subject = clinikfhir.search.ObservationQuery().subject
    assert type(subject).__name__ == "ObservationSubjectRef"
    assert subject.Patient.name("Smith").query_string() == "subject:Patient.name=Smith"
