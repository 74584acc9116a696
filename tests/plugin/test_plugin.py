"""The pytest plugin as a user meets it: real test files, no conftest, run by pytester against the real
sandbox (in-process and served on 127.0.0.1). The plugin comes from the installed ``pytest11`` entry point."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def write(pytester: pytest.Pytester, name: str, source: str) -> Path:
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error::pytest.PytestUnraisableExceptionWarning", *args
    )


def test_the_entry_point_registers_the_plugin_and_nothing_heavy_loads_at_start(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "test_user.py",
        """
        import sys

        def test_nothing_heavy_was_imported():
            loaded = [m for m in ("clinikfhir.sandbox", "clinikfhir.client", "httpx", "fhir.resources", "pydantic")
                      if m in sys.modules]
            assert loaded == []
            assert "clinikfhir.testing.plugin" in sys.modules
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    fixtures = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    for name in ("clinik ", "async_clinik", "clinik_sandbox ", "clinik_sandbox_http", "clinik_faults", "clinik_seeded"):
        fixtures.stdout.fnmatch_lines([f"*{name.strip()}*"])
    markers = pytester.runpytest_subprocess("--markers")
    markers.stdout.fnmatch_lines(["*clinik_seed(*paths)*", "*clinik_faults(fail_next=0*"])


def test_clinik_in_process_with_a_fresh_sandbox_per_test(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "test_user.py",
        """
        from clinikfhir.models import Patient

        SEEN = []

        def test_create_and_read(clinik, clinik_sandbox, clinik_tenant, clinik_key):
            assert clinik_sandbox.base_url == "http://localhost"   # in-process: no socket
            assert clinik_tenant == "org_test"
            assert clinik_sandbox.tenant_of(clinik_key) == "org_test"
            p = clinik.create(Patient(gender="female"))
            assert clinik.read(Patient, p.id).gender == "female"
            assert clinik.search(Patient).page().total == 1
            SEEN.append(id(clinik_sandbox))

        def test_the_next_test_starts_empty(clinik, clinik_sandbox):
            assert clinik.search(Patient).page().total == 0
            SEEN.append(id(clinik_sandbox))
            assert SEEN[0] != SEEN[1]
        """,
    )
    run(pytester).assert_outcomes(passed=2)


@pytest.mark.parametrize("how", ["ini", "option"])
def test_one_sandbox_per_session_with_a_tenant_per_test(pytester: pytest.Pytester, how: str) -> None:
    write(
        pytester,
        "test_user.py",
        """
        from clinikfhir.models import Patient

        SEEN = []

        def test_a(clinik, clinik_sandbox, clinik_tenant):
            assert clinik_tenant.startswith("org_test_")
            clinik.create(Patient(gender="male"))
            assert clinik.search(Patient).get().total == 1
            SEEN.append((id(clinik_sandbox), clinik_tenant))

        def test_b_sees_nothing_of_a(clinik, clinik_sandbox, clinik_tenant):
            assert clinik.search(Patient).get().total == 0
            SEEN.append((id(clinik_sandbox), clinik_tenant))
            assert SEEN[0][0] == SEEN[1][0]     # the same sandbox
            assert SEEN[0][1] != SEEN[1][1]     # a different tenant
        """,
    )
    if how == "ini":
        pytester.makeini("[pytest]\nclinik_sandbox_scope = session\n")
        result = run(pytester)
    else:
        result = run(pytester, "--clinik-sandbox-scope=session")
    result.assert_outcomes(passed=2)


def test_a_bad_scope_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write(pytester, "test_user.py", "def test_x(clinik_sandbox):\n    pass\n")
    pytester.makeini("[pytest]\nclinik_sandbox_scope = module\n")
    result = run(pytester)
    result.stdout.fnmatch_lines(["*clinik_sandbox_scope must be function or session*"])
    assert result.ret != 0


def test_clinik_over_http_and_async_clinik(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "test_user.py",
        """
        import httpx
        import pytest
        from clinikfhir.models import Observation, Patient

        def test_sync_over_http(clinik, clinik_sandbox_http, clinik_key):
            assert clinik_sandbox_http.base_url.startswith("http://127.0.0.1:")
            p = clinik.create(Patient(gender="other"))
            r = httpx.get(f"{clinik_sandbox_http.base_url}/v1/fhir/Patient/{p.id}", headers={"x-api-key": clinik_key})
            assert r.status_code == 200
            assert r.json()["gender"] == "other"

        @pytest.mark.asyncio
        async def test_async_in_process(async_clinik, clinik_sandbox):
            p = await async_clinik.create(Patient(gender="male"))
            assert (await async_clinik.read(Patient, p.id)).gender == "male"
            assert (await async_clinik.search(Patient).get()).total == 1

        @pytest.mark.asyncio
        async def test_async_over_http(async_clinik, clinik_sandbox_http, clinik_key):
            p = await async_clinik.create(Patient(gender="female"))
            async with httpx.AsyncClient(base_url=clinik_sandbox_http.base_url) as raw:
                r = await raw.get(f"/v1/fhir/Patient/{p.id}", headers={"x-api-key": clinik_key})
            assert r.json()["gender"] == "female"

        @pytest.mark.asyncio
        async def test_sync_and_async_share_the_tenant(clinik, async_clinik):
            p = clinik.create(Patient(gender="unknown"))
            assert (await async_clinik.read(Patient, p.id)).gender == "unknown"
        """,
    )
    run(pytester).assert_outcomes(passed=4)


def test_faults_by_marker_and_by_fixture(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "test_user.py",
        """
        import pytest
        from clinikfhir.errors import RateLimitError, ServerError
        from clinikfhir.models import Patient

        @pytest.mark.clinik_faults(fail_next=2, status=503)
        def test_two_failures_are_retried_at_once(clinik, clinik_faults):
            p = clinik.create(Patient(gender="male"))             # 2 retries by default, no waiting
            assert clinik_faults.pending()["fail_next"] == 0
            assert clinik.read(Patient, p.id).gender == "male"

        @pytest.mark.clinik_faults(fail_next=3, status=503, retry_after=30)
        def test_three_failures_surface(clinik):
            with pytest.raises(ServerError) as info:
                clinik.search(Patient).get()
            assert info.value.status == 503

        @pytest.mark.clinik_faults(fail_next=1, status=503)
        def test_the_marker_works_with_only_the_sandbox_fixture(clinik_sandbox):
            assert clinik_sandbox.faults.pending()["fail_next"] == 1

        @pytest.mark.parametrize("clinik_options", [{"retries": 0}])
        def test_the_fixture_and_client_options(clinik, clinik_faults, clinik_options):
            clinik_faults.fail_next(1, status=429, retry_after=7)
            with pytest.raises(RateLimitError) as info:
                clinik.search(Patient).get()
            assert info.value.retry_after == 7

        @pytest.mark.clinik_faults(drop_after_commit=1)
        def test_a_dropped_response_is_retried_without_a_duplicate(clinik):
            clinik.create(Patient(gender="female"))
            assert clinik.search(Patient).get().total == 1

        @pytest.mark.clinik_faults(bogus=1)
        def test_unknown_fault_argument(clinik):
            pass
        """,
    )
    result = run(pytester, "-rE")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*clinik_faults: unknown argument(s) bogus*"])


def test_faults_never_leak_into_the_next_test_on_a_shared_sandbox(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "test_user.py",
        """
        def test_arm(clinik_faults):
            clinik_faults.fail_next(5)
            clinik_faults.latency(3.0)

        def test_next(clinik_sandbox, clinik):
            assert clinik_sandbox.faults.pending() == {"fail_next": 0, "latency": 0.0, "drop_after_commit": 0}
        """,
    )
    run(pytester, "--clinik-sandbox-scope=session", "-p", "no:randomly").assert_outcomes(passed=2)


def seed_files(root: Path) -> None:
    data = root / "data"
    (data / "more").mkdir(parents=True)
    patients = [
        {"resourceType": "Patient", "id": "pat1", "gender": "female", "name": [{"family": "Rivera"}]},
        {"resourceType": "Patient", "id": "pat2", "gender": "male"},
    ]
    (data / "patients.ndjson").write_text("\n".join(json.dumps(p) for p in patients) + "\n\n", encoding="utf-8")
    obs = {
        "resourceType": "Observation",
        "id": "obs1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/pat1"},
    }
    (data / "more" / "obs.json").write_text(json.dumps(obs), encoding="utf-8")
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:7d6f0a55-59a5-4a3b-9c3e-0d2f5e2c1a01",
                "resource": {"resourceType": "Patient", "gender": "other"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:7d6f0a55-59a5-4a3b-9c3e-0d2f5e2c1a02",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": "urn:uuid:7d6f0a55-59a5-4a3b-9c3e-0d2f5e2c1a01"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
        ],
    }
    (data / "more" / "synthea.json").write_text(json.dumps(tx), encoding="utf-8")
    collection = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/pat2"}}}],
    }
    (root / "collection.json").write_text(json.dumps(collection), encoding="utf-8")


def test_seed_from_files_folders_ndjson_and_bundles(pytester: pytest.Pytester) -> None:
    seed_files(pytester.path)
    write(
        pytester,
        "test_user.py",
        """
        import pytest
        from clinikfhir.models import Condition, Encounter, Observation, Patient

        pytestmark = pytest.mark.clinik_seed("data")

        def test_the_folder_is_loaded_with_references_resolved(clinik, clinik_seeded):
            assert clinik.search(Patient).get().total == 3
            assert clinik_seeded.count("Patient") == 3 and clinik_seeded.count("Encounter") == 1
            pat1 = clinik_seeded.id("Patient/pat1")
            assert pat1 != "pat1"
            assert clinik.read(Patient, pat1).name[0].family == "Rivera"
            obs = clinik.read(Observation, clinik_seeded.id("Observation/obs1"))
            assert obs.subject.reference == f"Patient/{pat1}"
            assert clinik.search(Observation).subject(f"Patient/{pat1}").get().total == 1
            enc = clinik.search(Encounter).get().resources[0]
            assert enc.subject.reference == clinik_seeded["urn:uuid:7d6f0a55-59a5-4a3b-9c3e-0d2f5e2c1a01"]

        @pytest.mark.clinik_seed("collection.json")
        def test_markers_add_up_module_first(clinik, clinik_seeded):
            cond = clinik.search(Condition).get().resources[0]
            assert cond.subject.reference == clinik_seeded["Patient/pat2"]

        def test_seed_goes_to_the_served_sandbox_when_used(clinik, clinik_sandbox_http):
            assert clinik.search(Patient).get().total == 3

        @pytest.mark.asyncio
        async def test_seed_with_async_clinik(async_clinik):
            assert (await async_clinik.search(Patient).get()).total == 3
        """,
    )
    run(pytester).assert_outcomes(passed=4)


def test_seed_errors_name_the_file_and_path_never_the_values(pytester: pytest.Pytester) -> None:
    (pytester.path / "broken.ndjson").write_text(
        '{"resourceType": "Patient", "gender": "female"}\n{"resourceType": "Patient", "SECRET-NAME\n', encoding="utf-8"
    )
    (pytester.path / "invalid.json").write_text(
        json.dumps({"resourceType": "Observation", "status": "SECRET-STATUS", "subject": {"reference": "Patient/x"}}),
        encoding="utf-8",
    )
    (pytester.path / "notfhir.json").write_text('["SECRET-LIST"]', encoding="utf-8")
    write(
        pytester,
        "test_user.py",
        """
        import pytest

        @pytest.mark.clinik_seed("broken.ndjson")
        def test_broken(clinik):
            pass

        @pytest.mark.clinik_seed("invalid.json")
        def test_invalid(clinik):
            pass

        @pytest.mark.clinik_seed("notfhir.json")
        def test_not_fhir(clinik):
            pass

        @pytest.mark.clinik_seed("missing.json")
        def test_missing(clinik):
            pass
        """,
    )
    result = run(pytester, "-rE")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [
            "*clinik_seed: seed data was not loaded (file, element path and rule; values are never shown):*",
            "*broken.ndjson:2: not valid JSON (line 1, column *) [[]json[]]*",
            "*invalid.json: Observation.status: code is not in the required value set*",
            "*invalid.json: Observation.code: required element is missing*",
            "*notfhir.json: not a FHIR resource (a JSON object with a resourceType) [[]structure[]]*",
            "*missing.json: no such file or folder [[]file[]]*",
        ]
    )
    assert "SECRET" not in result.stdout.str()


def test_our_own_conftest_fixtures_override_the_plugin(pytester: pytest.Pytester) -> None:
    write(
        pytester,
        "conftest.py",
        """
        import pytest

        @pytest.fixture
        def clinik():
            return "mine"
        """,
    )
    write(pytester, "test_user.py", "def test_mine(clinik):\n    assert clinik == 'mine'\n")
    run(pytester).assert_outcomes(passed=1)


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    write(pytester, "test_user.py", "def test_x(clinik):\n    pass\n")
    result = run(pytester, "-p", "no:clinikfhir")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'clinik' not found*"])
