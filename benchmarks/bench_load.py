"""Load throughput: `clinikfhir load` into the served sandbox at concurrency 1, 4 and 8, beside the same
transaction Bundles POSTed by a plain httpx loop (sequential, and 8 in flight), measured in the same run.

    .venv/bin/python benchmarks/bench_load.py [--patients 20] [--repeat 3] [--large 100 500] [--before DIR]

``--large N...`` adds rows at N patients (concurrency 8 only) for each N, where interpreter start-up
weighs less on the whole command. ``--before DIR`` also runs ``clinikfhir load`` from another source tree (an
untouched copy of main: ``git archive <commit> | tar -x -C DIR``), interleaved in the same run, so a
change is measured against its baseline on the same machine at the same moment. Beside rates, the
client's CPU time per 1,000 resources (user + system of the ``load`` process, start-up included)
is printed: on a shared machine it moves much less than wall-clock rates.

A fourth baseline posts the Bundles as `load` sends them (load tags, a conditional create per entry,
`Prefer: return=minimal`) from the same plain loop: the server's cost of that work without the client's.

Data: Synthea-shaped transaction Bundles (tests/cli/synthea_like.py): per patient 22 resources
(Patient; 3 Encounters, each with a Condition, 4 Observations and a Claim), urn:uuid references, and
conditional references to shared Organizations and Practitioners, whose own Bundles are loaded first.
The sandbox runs in its own process (`clinikfhir sandbox`), as does each `clinikfhir load` (timed
from process start to exit: imports, reading, validation, reference resolution, sending). Every
run writes into a fresh sandbox process (an empty store), so each measures creates, not "already
there" answers, and no run is slowed by the data of the runs before it.

The plain loop sends the files as they are (no validation, no conditional references resolved,
no load tags, no conditional creates): it is the floor of the server, not the same work. A third
baseline does the plain loop with clinikfhir.validate on every Bundle first (the local check that
`load` must do), to show how much of the gap is that required work. Goal: >= 1,000 resources/s at
concurrency 8 and within 1.3x of the plain loop at the same concurrency.

The plain loop is timed inside this process, with httpx and asyncio already imported, while the
whole command is timed from process start to exit. So the same loop is also run as a program of its
own (``plain_loop.py``, importing only asyncio and httpx), timed the same way as the command: the
like-for-like comparison of the whole command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.plain_loop import post_all  # noqa: E402
from tests.cli.synthea_like import (  # noqa: E402
    entries_per_patient,
    hospital_information,
    patient_bundle,
    practitioner_information,
)

CLI = [sys.executable, "-m", "clinikfhir.cli"]


def write_data(folder: Path, patients: int) -> tuple[list[Path], int]:
    files = [folder / "hospitalInformation1.json", folder / "practitionerInformation1.json"]
    files[0].write_bytes(orjson.dumps(hospital_information()))
    files[1].write_bytes(orjson.dumps(practitioner_information()))
    for seed in range(patients):
        path = folder / f"Patient_{seed:05d}.json"
        path.write_bytes(orjson.dumps(patient_bundle(seed)))
        files.append(path)
    total = (
        patients * entries_per_patient()
        + len(hospital_information()["entry"])
        + len(practitioner_information()["entry"])
    )
    return files, total


def start_sandbox(keys: list[str]) -> tuple[subprocess.Popen[str], str]:
    args = [a for i, k in enumerate(keys) for a in ("--key", f"{k}=org_bench{i}")]
    proc = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+", line)
    if match is None:
        proc.kill()
        raise SystemExit(f"the sandbox did not start: {line!r}")
    return proc, match.group(0)


def run_cli(
    base: str, key: str, folder: Path, concurrency: int, report: Path, tree: Path | None = None
) -> tuple[float, float, float]:
    """(seconds of the whole command, seconds of its load alone as its --report says, CPU seconds of
    the process); ``tree``: run the command from that source tree instead of this one."""
    options = ["--concurrency", str(concurrency), "--no-progress", "--report", str(report)]
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [*CLI, "load", str(folder), "--base-url", base, "--key", key, *options],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tree,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"clinikfhir load failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    summary = orjson.loads(report.read_bytes())
    assert sum(c["created"] for c in summary["counts"].values()) > 0
    return elapsed, float(summary["seconds"]), cpu


def load_bodies(files: list[Path]) -> list[bytes]:
    """The Bundles as ``clinikfhir load`` sends them: load tags and a conditional create (ifNoneExist)
    on every entry (its conditional references left as written, as the plain loop leaves them)."""
    from clinikfhir._load.loader import Refusal, plan
    from clinikfhir._load.sources import Item

    out: list[bytes] = []
    for path in files:
        unit = next(plan(Item(str(path), orjson.loads(path.read_bytes()))))
        if isinstance(unit, Refusal):
            raise SystemExit(f"{path}: {unit.message}")
        out.append(orjson.dumps(unit.body))
    return out


def run_plain(
    base: str,
    key: str,
    files: list[Path],
    concurrency: int,
    *,
    validate: bool = False,
    minimal: bool = False,
    bodies: list[bytes] | None = None,
) -> float:
    """Seconds of the plain loop in this process (imports already paid): the files POSTed as they
    are (or ``bodies``); ``validate``: each decoded and put through clinikfhir.validate first;
    ``minimal``: with ``Prefer: return=minimal``."""
    bodies = bodies if bodies is not None else [p.read_bytes() for p in files]
    check = None
    if validate:
        from clinikfhir.validation import validate

        def check(body: bytes) -> None:
            assert not validate(orjson.loads(body), level="error")

    start = time.perf_counter()
    asyncio.run(post_all(base, key, bodies, concurrency, minimal=minimal, check=check))
    return time.perf_counter() - start


def run_program(base: str, key: str, files: list[Path], concurrency: int) -> float:
    """Seconds of the plain loop as a program of its own (``plain_loop.py``), from process start to
    exit, as the whole ``clinikfhir load`` command is timed."""
    program = [sys.executable, str(Path(__file__).with_name("plain_loop.py")), base, key, str(concurrency)]
    start = time.perf_counter()
    subprocess.run([*program, *map(str, files)], check=True)
    return time.perf_counter() - start


class Fresh:
    """A new sandbox process for every run (its store empty), so no run is slowed by the data of the
    runs before it and the order of the variants does not matter."""

    def __enter__(self) -> tuple[str, str]:
        key = "clk_test_bench0000"
        self.proc, base = start_sandbox([key])
        return base, key

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def measure(
    patients: int, repeat: int, levels: tuple[int, ...], before: Path | None
) -> tuple[int, int, dict[str, list[float]]]:
    """Every variant at ``patients`` patients, ``repeat`` times interleaved (so drift in machine load
    hits every variant alike), each into a fresh sandbox: rates in resources/s and client CPU in
    seconds, by row name."""
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as tmp2:
        folder = Path(tmp)
        report = Path(tmp2) / "report.json"
        files, total = write_data(folder, patients)
        bodies = load_bodies(files)
        for _ in range(repeat):
            for c in (1, 8) if 1 in levels else (8,):
                with Fresh() as (base, key):
                    add(f"plain {c}", total / run_plain(base, key, files, c))
            with Fresh() as (base, key):
                add("program 8", total / run_program(base, key, files, 8))
            if 1 in levels:
                with Fresh() as (base, key):
                    add("validate 8", total / run_plain(base, key, files, 8, validate=True))
            with Fresh() as (base, key):
                add("bodies 8", total / run_plain(base, key, files, 8, minimal=True, bodies=bodies))
            trees: list[tuple[str, Path | None]] = [("load", None)]
            if before is not None:
                trees.append(("before", before))
            for c in levels:
                for name, tree in trees:
                    with Fresh() as (base, key):
                        whole, loading, cpu = run_cli(base, key, folder, c, report, tree)
                    add(f"{name} {c}", total / whole)
                    add(f"{name} {c} alone", total / loading)
                    add(f"{name} {c} cpu", cpu)
    return total, len(files), rows


def show(total: int, files: int, repeat: int, rows: dict[str, list[float]], levels: tuple[int, ...]) -> None:
    med = {name: statistics.median(values) for name, values in rows.items()}
    print(f"{total} resources in {files} transaction Bundles; {os.cpu_count()} CPUs; median of {repeat}")
    head = (
        f"{'resources/s':>12}{'vs plain':>10}{'vs program':>12}"
        f"{'load alone':>12}{'vs plain':>10}{'vs bodies':>11}{'CPU s/1k':>10}"
    )
    print(f"{'':38}{head}")
    for c in (1, 8):
        if f"plain {c}" in med:
            print(f"{f'plain httpx loop, concurrency {c}':38}{med[f'plain {c}']:>12,.0f}{'1.00x':>10}")
    rate = med["program 8"]
    name = "plain loop as a program, conc. 8"
    print(f"{name:38}{rate:>12,.0f}{med['plain 8'] / rate:>9.2f}x{'1.00x':>12}")
    if "validate 8" in med:
        rate = med["validate 8"]
        print(f"{'plain loop + validate, conc. 8':38}{rate:>12,.0f}{med['plain 8'] / rate:>9.2f}x")
    rate = med["bodies 8"]
    name = "plain loop, load's bodies, conc. 8"
    print(f"{name:38}{rate:>12,.0f}{med['plain 8'] / rate:>9.2f}x")
    for name, label in (("load", "clinikfhir load"), ("before", "before: clinikfhir load")):
        for c in levels:
            if f"{name} {c}" not in med:
                continue
            ref = med[f"plain {1 if c == 1 else 8}"]
            rate, alone, cpu = med[f"{name} {c}"], med[f"{name} {c} alone"], med[f"{name} {c} cpu"]
            program = f"{med['program 8'] / rate:>11.2f}x" if c == 8 else f"{'':>12}"
            bodies = f"{med['bodies 8'] / alone:>10.2f}x" if c == 8 else f"{'':>11}"
            print(
                f"{f'{label}, conc. {c}':38}{rate:>12,.0f}{ref / rate:>9.2f}x{program}"
                f"{alone:>12,.0f}{ref / alone:>9.2f}x{bodies}{cpu * 1000 / total:>10.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--large",
        type=int,
        nargs="*",
        default=[100],
        metavar="N",
        help="also N patients at concurrency 8, for each N given (none: no such rows)",
    )
    parser.add_argument("--before", type=Path, metavar="DIR", help="also run clinikfhir load from this source tree")
    args = parser.parse_args()
    before = args.before.resolve() if args.before is not None else None
    levels = (1, 4, 8)
    small = measure(args.patients, args.repeat, levels, before)
    large = [measure(n, args.repeat, (8,), before) for n in args.large]
    show(*small[:2], args.repeat, small[2], levels)
    for found in large:
        print()
        show(*found[:2], args.repeat, found[2], (8,))
    print()
    print("(resources/s; the machine is shared, so compare within this run only)")
    print("resources/s: the whole command, process start to exit; load alone: from reading the first file to the")
    print("last answer (the command's own --report 'seconds'), without interpreter start-up and imports.")
    print("vs plain: the plain loop at concurrency 1 for load -c 1, at 8 for -c 4 and -c 8; above 1 = slower.")
    print("The plain loop runs inside this process, its imports already paid; 'plain loop as a program' is the")
    print("same loop (plain_loop.py) run as its own process and timed as the whole command is, from process")
    print("start to exit: vs program compares like with like.")
    print("load's bodies: the plain loop sending what load sends (a load tag and an ifNoneExist per entry,")
    print("Prefer: return=minimal): the server's share of load's cost, without the client's. vs bodies: load")
    print("alone against that row, the client's own share. CPU s/1k: the load process's CPU seconds per")
    print("1,000 resources, start-up included.")


if __name__ == "__main__":
    main()
