"""The command's surface (--version, --help, missing extras) and the exploring commands (get, search)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from clinikfhir import __version__
from clinikfhir.cli import _COMMANDS, main  # pyright: ignore[reportPrivateUsage]
from clinikfhir.sandbox import Sandbox

from .conftest import Run, sandbox_command

KeyFactory = object


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"clinikfhir {__version__}\n"


@pytest.mark.parametrize("command", ["", *_COMMANDS])
def test_help_describes_every_command_with_examples_and_no_rest_markup(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"] if command else ["--help"])
    text = capsys.readouterr().out
    for markup in ("``", ":class:", ":func:", ":mod:"):
        assert markup not in text
    if command == "demo":
        return  # the demo (h15b's) has no options worth examples
    assert "examples:\n  clinikfhir " in text
    if not command:
        for name, (_, summary) in _COMMANDS.items():
            assert f"    {name}" in text
            assert summary.split()[0] in text
    else:  # the one-line description, as a sentence
        summary = _COMMANDS[command][1]
        assert " ".join(summary.split()[1:4]) in " ".join(text.split())


@pytest.mark.parametrize(
    ("module", "argv", "extra"),
    [
        ("rich", ["validate", "x.json"], "cli"),
        ("rich", ["load", "x.json", "--dry-run"], "cli"),
        ("uvicorn", ["sandbox", "--port", "0"], "sandbox"),
    ],
)
def test_a_missing_optional_dependency_is_one_line_naming_the_extra(module: str, argv: list[str], extra: str) -> None:
    program = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # as if not installed\n"
        "from clinikfhir.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr == (
        f"clinikfhir {argv[0]}: this command needs {module}, which is not installed: "
        f"pip install 'clinikfhir[{extra}]'\n"
    )


def test_no_key_is_one_line_not_a_traceback(run_cli: Run) -> None:
    done = run_cli("get", "Patient/1", "--base-url", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("clinikfhir get: no API key")


@pytest.fixture
def seeded(served_sandbox: Sandbox, make_key: KeyFactory) -> tuple[str, str]:
    key = make_key()  # type: ignore[operator]
    with served_sandbox.client(key) as client:
        patient = client.post(
            "/v1/fhir/Patient",
            json={"resourceType": "Patient", "gender": "female", "name": [{"family": "Curie", "given": ["Marie"]}]},
        ).json()
        for value in (61, 72):
            client.post(
                "/v1/fhir/Observation",
                json={
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
                    "subject": {"reference": f"Patient/{patient['id']}"},
                    "valueQuantity": {
                        "value": value,
                        "unit": "/min",
                        "system": "http://unitsofmeasure.org",
                        "code": "/min",
                    },
                },
            )
    return key, patient["id"]


def test_get_prints_the_typed_resource(served_sandbox: Sandbox, seeded: tuple[str, str], run_cli: Run) -> None:
    key, pid = seeded
    conn = ["--base-url", served_sandbox.base_url, "--key", key]
    as_json = run_cli("get", f"Patient/{pid}", *conn)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["resourceType"], data["id"], data["name"][0]["family"]) == ("Patient", pid, "Curie")
    pretty = run_cli("get", f"Patient/{pid}", *conn, "--format", "pretty")
    assert pretty.stdout.startswith(f"Patient/{pid}  version 1  updated ")
    assert pretty.stdout.splitlines()[1] == "Marie Curie  female"
    missing = run_cli("get", "Patient/nope", *conn)
    assert missing.returncode == 1
    assert missing.stderr.startswith("clinikfhir get: 404 NOT_FOUND: ")


def test_search_lists_matches_and_follows_pages(served_sandbox: Sandbox, seeded: tuple[str, str], run_cli: Run) -> None:
    key, pid = seeded
    conn = ["--base-url", served_sandbox.base_url, "--key", key]
    lines = run_cli("search", f"Observation?subject=Patient/{pid}&_count=1", *conn, "--all").stdout.splitlines()
    assert sorted(json.loads(line)["valueQuantity"]["value"] for line in lines) == [61, 72]
    table = run_cli("search", "Observation?code=8867-4", *conn, "--format", "table")
    assert table.returncode == 0, table.stderr
    assert "2 Observation match(es)" in table.stdout
    assert "Heart rate  72 /min" in table.stdout
    bad = run_cli("search", "Nonsense?x=1", *conn)
    assert bad.returncode == 2
    assert (
        bad.stderr
        == 'clinikfhir search: the search must start with an R4 resource type, e.g. "Observation?code=8867-4"\n'
    )


def test_export_everything_of_a_patient(
    served_sandbox: Sandbox, seeded: tuple[str, str], run_cli: Run, tmp_path: Path
) -> None:
    key, pid = seeded
    done = run_cli(
        "export", "--everything", f"Patient/{pid}", "--out", str(tmp_path / "out"),
        "--base-url", served_sandbox.base_url, "--key", key, "--no-progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["Observation.ndjson", "Patient.ndjson"]
    observations = (tmp_path / "out" / "Observation.ndjson").read_text().splitlines()
    assert len(observations) == 2
    assert {json.loads(o)["subject"]["reference"] for o in observations} == {f"Patient/{pid}"}


def test_export_accepts_builder_syntax_read_into_the_typed_builder(
    served_sandbox: Sandbox, seeded: tuple[str, str], run_cli: Run, tmp_path: Path
) -> None:
    key, pid = seeded
    conn = ["--base-url", served_sandbox.base_url, "--key", key, "--no-progress"]
    builder = f'Observation.code("http://loinc.org", "8867-4").subject("Patient/{pid}").value_quantity.gt(65)'
    done = run_cli("export", builder, "--out", str(tmp_path / "b"), *conn)
    assert done.returncode == 0, done.stderr
    (line,) = (tmp_path / "b" / "Observation.ndjson").read_text().splitlines()
    assert json.loads(line)["valueQuantity"]["value"] == 72
    # the same search as a query string writes the same file
    query = f"Observation?code=http://loinc.org,8867-4&subject=Patient/{pid}&value-quantity=gt65"
    same = run_cli("export", query, "--out", str(tmp_path / "q"), *conn)
    assert same.returncode == 0, same.stderr
    assert (tmp_path / "q" / "Observation.ndjson").read_text().splitlines() == [line]
    both = run_cli(
        "export", 'Patient.gender("female")', 'Observation.status("final")', "--out", str(tmp_path / "p"), *conn
    )
    assert both.returncode == 0, both.stderr
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["Observation.ndjson", "Patient.ndjson"]
    searched = run_cli("search", builder, *conn[:-1])  # clinikfhir search reads it the same way
    assert searched.returncode == 0, searched.stderr
    assert [json.loads(x)["id"] for x in searched.stdout.splitlines()] == [json.loads(line)["id"]]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('Observation.cod("8867-4")', "(column 13): a search on Observation has no search parameter or builder "
         "method 'cod'; did you mean code?"),
        ('Observation.date.gee("2024")', "(column 18): the date parameter 'date' has no modifier 'gee'; "
         "did you mean ge?"),
        ('Observation.date.ge("SECRET")', "(column 18): search parameter date: not a FHIR date/dateTime (expected "
         "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][zone])"),
        ('Observation.code(__import__("os").getcwd())', "(column 18): arguments must be literals: strings, numbers, "
         "True/False/None, tuples, lists"),
        ('Observation.raw("code", "x")', "(column 13): a search on Observation has no search parameter or builder "
         "method 'raw'"),
        ("Observation.page()", "(column 13): a search on Observation has no search parameter or builder method "
         "'page'; did you mean page_size?"),
        ("Observation.code", ": the token parameter 'code' needs a value: call it, as in .code(...)"),
        ('Observatio.code("x")', ": 'Observatio' is not an R4 resource type (did you mean Observation?)"),
    ],
)  # fmt: skip
def test_builder_syntax_errors_name_what_is_unknown_and_send_nothing(
    served_sandbox: Sandbox, make_key: object, run_cli: Run, tmp_path: Path, text: str, error: str
) -> None:
    key = make_key()  # type: ignore[operator]
    conn = ["--base-url", served_sandbox.base_url, "--key", key, "--no-progress"]
    done = run_cli("export", text, "--out", str(tmp_path / "x"), *conn)
    assert done.returncode == 2
    assert done.stderr == f"clinikfhir export: builder syntax{'' if error[0] == ':' else ' '}{error}\n"
    assert "SECRET" not in done.stderr
    assert not (tmp_path / "x").exists()


def test_sandbox_public_base_url_is_the_origin_of_links_never_the_host_header() -> None:
    """``sandbox --public-base-url``: served on loopback, links and fullUrls on the given origin."""
    key = "clk_test_publicbase01"
    args = ("--key", f"{key}=org_public", "--public-base-url", "https://fhir.test.example:8443")
    with sandbox_command(*args, banner_lines=3) as (origin, banner):
        assert "links and fullUrls on: https://fhir.test.example:8443" in banner[2]
        with httpx.Client(base_url=origin, headers={"x-api-key": key, "host": "evil.example"}) as client:
            for given in ("Ada", "Grace", "Mary"):
                made = client.post("/v1/fhir/Patient", json={"resourceType": "Patient", "name": [{"given": [given]}]})
                assert made.status_code == 201, made.text
            page = client.get("/v1/fhir/Patient", params={"_count": "2"}).json()
    urls = [link["url"] for link in page["link"]] + [entry["fullUrl"] for entry in page["entry"]]
    assert {link["relation"] for link in page["link"]} >= {"self", "next"}
    assert all(url.startswith("https://fhir.test.example:8443/v1/fhir/") for url in urls), urls


def test_sandbox_refuses_a_public_base_url_that_is_not_an_origin() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clinikfhir.cli", "sandbox", "--port", "0", "--public-base-url", "ftp://x/y"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "clinikfhir sandbox: --public-base-url must be an absolute http(s) origin such as https://sandbox.example:8443"
    )


def test_the_command_skips_httpx_command_line_and_delivers_all_its_output() -> None:
    """The console script does not import httpx's own command line (click, rich, pygments: start-up
    it never uses) and, although it ends without tearing the interpreter down, every line it wrote
    arrives and its exit code is the command's."""
    key = "clk_test_exit0000001"
    with sandbox_command("--key", f"{key}=org_exit") as (origin, _):
        with httpx.Client(base_url=origin, headers={"x-api-key": key}) as client:
            for given in ("Ada", "Grace", "Mary"):
                made = client.post("/v1/fhir/Patient", json={"resourceType": "Patient", "name": [{"given": [given]}]})
                assert made.status_code == 201, made.text
        base = ["--base-url", origin, "--key", key]
        found = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "clinikfhir.cli", "search", "Patient?_sort=given", *base],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": str(Path.cwd())},
        )
        missing = subprocess.run(
            [sys.executable, "-m", "clinikfhir.cli", "get", "Patient/nowhere", *base],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    timed = [line for line in found.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[-1].strip() for line in timed}
    assert {"httpx", "httpcore"} <= imported
    assert not {"click", "pygments"} & imported  # (an attempt at httpx._main is listed: it failed at once)
    assert found.returncode == 0, found.stderr[-2000:]
    names = [given for given in ("Ada", "Grace", "Mary") if given in found.stdout]
    assert names == ["Ada", "Grace", "Mary"]
    assert found.stdout.index("Ada") < found.stdout.index("Grace") < found.stdout.index("Mary")
    assert missing.returncode == 1
    assert missing.stderr.startswith("clinikfhir get: 404 ")
    assert missing.stderr.endswith("\n")
