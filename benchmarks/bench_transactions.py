"""Transaction throughput of the sandbox's write path: the server-side time of a 100-entry Synthea-shaped
transaction Bundle (``Prefer: return=representation``, the default, and ``return=minimal``), and
resources/s in-process and over uvicorn (1 client, and 8 clients in flight), with the server's CPU per
resource. Optionally beside another checkout (``--root``, e.g. main) measured in the same run,
interleaved, on the same data.

    .venv/bin/python benchmarks/bench_transactions.py [--transactions 20] [--repeat 3] [--root /tmp/main]

    # an untouched main to compare with:
    git -C /work/main archive main | tar -x -C /tmp/main

Data: ``tests/cli/synthea_like.patient_bundle`` with 11 encounters of 6 observations: per Bundle 100
entries (Patient; per encounter the Encounter, a Condition, 6 Observations and a Claim), ``urn:uuid``
references between them. The ``minimal+ifNoneExist`` rows send the entries as ``clinikfhir load``
does (a load tag and a conditional create on it per entry, ``Prefer: return=minimal``).
"Server-side" is ``Sandbox.handle`` on an in-process sandbox (the gateway and the FHIR server, no
HTTP); wall-clock time and CPU time (``time.process_time``, steadier on a shared machine) are both
printed. Over uvicorn the sandbox runs in its own process (as ``clinikfhir sandbox``
does) and its CPU is read from /proc. Each measurement writes into a fresh tenant.
Goal (issues 13 and 15): a 100-entry transaction well under 2 s under load; >= 1,000 resources/s into
the served sandbox at concurrency 8 on a 2-core machine, i.e. well under 1 ms of server CPU per resource.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_sandbox import _cpu_seconds

HERE = Path(__file__).resolve().parent.parent
ENCOUNTERS, OBSERVATIONS = 11, 6  # 1 + 11 * (1 + 6 + 1 + 1) = 100 entries
PREFERS = {"representation": None, "minimal": "return=minimal", "minimal+ifNoneExist": "return=minimal"}
CONDITIONAL = {"minimal+ifNoneExist"}
"""Variants whose entries are sent as `clinikfhir load` sends them: a load tag and a conditional create
(``ifNoneExist`` on that tag) per entry, so every entry is looked up before it is created."""
KEY = "clk_test_transactions0001"

SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from clinikfhir.sandbox import Sandbox
sb = Sandbox()
for i in range(int(sys.argv[2])):
    sb.add_key(f"clk_test_transactions{i:04d}", f"org_tx{i}")
sb.serve_forever("127.0.0.1", 0, ready=lambda url: print("listening on", url, flush=True))
"""


def bundles(count: int, first_seed: int, conditional: bool = False) -> list[bytes]:
    import hashlib

    import orjson

    from tests.cli.synthea_like import patient_bundle

    out = []
    for seed in range(first_seed, first_seed + count):
        bundle = patient_bundle(seed, encounters=ENCOUNTERS, observations=OBSERVATIONS)
        assert len(bundle["entry"]) == 100
        if conditional:
            for i, entry in enumerate(bundle["entry"]):
                code = hashlib.md5(f"{seed}-{i}".encode()).hexdigest()  # a tag, not security
                meta = entry["resource"].setdefault("meta", {})
                meta.setdefault("tag", []).append({"system": "urn:clinikfhir:load", "code": code})
                entry["request"]["ifNoneExist"] = f"_tag=urn:clinikfhir:load|{code}"
        out.append(orjson.dumps(bundle))
    return out


def _headers(key: str, prefer: str | None) -> dict[str, str]:
    headers = {"x-api-key": key, "content-type": "application/fhir+json"}
    if prefer is not None:
        headers["prefer"] = prefer
    return headers


def in_process(count: int, repeat: int) -> dict[str, Any]:
    """Per preference: median wall and CPU ms per 100-entry transaction through ``Sandbox.handle``."""
    from clinikfhir.sandbox import Request, Sandbox

    data = {name: bundles(count, 1000, name in CONDITIONAL) for name in PREFERS}
    out: dict[str, Any] = {}
    with Sandbox() as sb:
        warm = sb.create_key("org_warm")
        for body in bundles(2, 0):
            assert sb.handle(Request("POST", "/v1/fhir", "", _headers(warm, None), body)).status == 200
        runs: dict[str, tuple[list[float], list[float], int]] = {name: ([], [], 0) for name in PREFERS}
        for _ in range(repeat):
            for name, prefer in PREFERS.items():  # interleaved
                headers = _headers(sb.create_key(f"org_{name}"), prefer)
                walls, cpus, size = runs[name]
                for body in data[name]:
                    wall, cpu = time.perf_counter(), time.process_time()
                    resp = sb.handle(Request("POST", "/v1/fhir", "", headers, body))
                    cpus.append(time.process_time() - cpu)
                    walls.append(time.perf_counter() - wall)
                    assert resp.status == 200, resp.body[:300]
                    size = len(resp.body)
                runs[name] = (walls, cpus, size)
        for name, (walls, cpus, size) in runs.items():
            out[name] = {
                "wall_ms": statistics.median(walls) * 1000,
                "cpu_ms": statistics.median(cpus) * 1000,
                "per_s": 100 / statistics.median(walls),
                "response_kib": size / 1024,
            }
    return out


def served(root: Path, count: int, repeat: int) -> dict[str, Any]:
    """Per (preference, clients): resources/s over uvicorn and server CPU ms per resource."""
    import httpx

    data = {name: bundles(count, 2000, name in CONDITIONAL) for name in PREFERS}
    keys = iter(f"clk_test_transactions{i:04d}" for i in range(1000))
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(root), "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    results: dict[str, list[tuple[float, float | None]]] = {}
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found is None:
            raise SystemExit(f"the sandbox did not start: {line!r}")
        url = found.group(0)
        with httpx.Client(base_url=url, headers=_headers(next(keys), None), timeout=120) as c:
            for body in bundles(2, 0):
                assert c.post("/v1/fhir", content=body).status_code == 200
        for _ in range(repeat):
            for name, prefer in PREFERS.items():
                for clients in (1, 8):
                    headers = _headers(next(keys), prefer)
                    pending = list(data[name])
                    lock = threading.Lock()

                    def worker(
                        headers: dict[str, str] = headers, pending: list[bytes] = pending, lock: threading.Lock = lock
                    ) -> None:
                        with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
                            while True:
                                with lock:
                                    if not pending:
                                        return
                                    body = pending.pop()
                                r = c.post("/v1/fhir", content=body)
                                assert r.status_code == 200, r.text[:300]

                    threads = [threading.Thread(target=worker) for _ in range(clients)]
                    cpu0, start = _cpu_seconds(proc.pid), time.perf_counter()
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    wall, cpu1 = time.perf_counter() - start, _cpu_seconds(proc.pid)
                    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / (100 * count) * 1000
                    results.setdefault(f"{name}/{clients}", []).append((100 * count / wall, cpu))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    out: dict[str, Any] = {}
    for label, values in results.items():
        cpus = [c for _, c in values if c is not None]
        out[label] = {
            "per_s": statistics.median(v for v, _ in values),
            "cpu_ms": statistics.median(cpus) if cpus else None,
        }
    return out


def worker(root: Path, count: int, repeat: int) -> None:
    """Measure the clinikfhir found at ``root`` (this process imports it) and print JSON."""
    sys.path.insert(0, str(root))
    sys.path.insert(1, str(HERE))  # tests.cli.synthea_like, from this checkout
    import clinikfhir

    assert Path(clinikfhir.__file__).resolve().is_relative_to(root.resolve()), clinikfhir.__file__
    result = {"in_process": in_process(count, repeat), "served": served(root, count, repeat)}
    print(json.dumps(result))


def run_worker(root: Path, count: int, repeat: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", str(root), "--transactions", str(count), "--repeat", str(repeat)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {root} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=20, help="100-entry Bundles per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", type=Path, help="another checkout to measure beside this one (e.g. main)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.transactions, args.repeat)
        return
    roots = [("this tree", HERE)] + ([("--root", args.root)] if args.root else [])
    measured: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in roots}
    for _ in range(args.repeat):  # alternate the trees, so drift in machine load hits both alike
        for label, root in roots:
            measured[label].append(run_worker(root, args.transactions, 1))

    def median(label: str, *path: str) -> float | None:
        values = []
        for run in measured[label]:
            value: Any = run
            for key in path:
                value = value[key]
            if value is not None:
                values.append(float(value))
        return statistics.median(values) if values else None

    cols = [label for label, _ in roots]
    print(f"100-entry Synthea-shaped transactions, {args.transactions} per measurement, median of {args.repeat}")
    print(f"{'measurement':<58}" + "".join(f"{c:>14}" for c in cols))
    for name in PREFERS:
        for key, what, digits in (
            ("wall_ms", "ms per transaction (wall)", 1),
            ("cpu_ms", "ms per transaction (CPU)", 1),
            ("per_s", "resources/s", 0),
            ("response_kib", "response KiB", 1),
        ):
            label = f"in-process Sandbox.handle, return={name}: {what}"
            print(f"{label:<58}" + "".join(f"{_cell(median(c, 'in_process', name, key), digits):>14}" for c in cols))
    for name in PREFERS:
        for clients in (1, 8):
            for key, what, digits in (("per_s", "resources/s", 0), ("cpu_ms", "server CPU ms/resource", 3)):
                label = f"uvicorn, {clients} client{'s' if clients > 1 else ''}, return={name}: {what}"
                values = "".join(f"{_cell(median(c, 'served', f'{name}/{clients}', key), digits):>14}" for c in cols)
                print(f"{label:<58}{values}")
    if args.root:
        print(f"\n--root {args.root} (it may not know Prefer: return=minimal and answer with representations)")


if __name__ == "__main__":
    main()
