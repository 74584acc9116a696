"""Benchmark the sandbox search engine against a linear scan over the same SQLite data.

Loads Patients and Observations across two tenants into a file database with the interface-5 store
schema (each create is one transaction: the resources row plus its index rows, as the sandbox does),
then prints p50/p95 latency of

  (a) Observation?code=8867-4&date=ge2024-01-01&_sort=-date&_count=50
  (b) Observation?subject:Patient.name=<family>&_count=50           (chained)
  (c) Patient?name=<family>&_revinclude=Observation:subject&_count=50

beside a linear-scan baseline (decode every body of the type with orjson and filter/sort in
Python), and the indexed write throughput beside the same writes without indexing. The write figures
above are engine-only (this script's own INSERT plus ``search.reindex``); the script also prints
creates/s measured end to end through the real sandbox (``Sandbox`` + its in-process httpx transport:
gateway, key check, validation, tenant tag, history row, index), in memory and on a file.

    .venv/bin/python benchmarks/bench_search_engine.py [--scale 1.0] [--repeat 30]

Scale 1.0 is 100,000 Observations and 10,000 Patients.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from clinikfhir.sandbox import search
from clinikfhir.sandbox._store import WAL_AUTOCHECKPOINT
from clinikfhir.sandbox.search._values import date_range, normalise

STORE_DDL = (
    "CREATE TABLE resources(env TEXT, type TEXT, id TEXT, tenant TEXT, version INTEGER, last_updated TEXT, "
    "deleted INTEGER, body TEXT, PRIMARY KEY(env, type, id))",
    "CREATE TABLE history(env, type, id, tenant, version, last_updated, deleted, method, body, "
    "PRIMARY KEY(env, type, id, version))",
)
TENANTS = ("org_a", "org_b")
TENANT_SYSTEM = "https://clinikapi.com/tenant"
CODES = ("8867-4", "8480-6", "8462-4", "8310-5", "29463-7", "8302-2", "2708-6", "9279-1", "39156-5", "85354-9")
FAMILIES = [f"Fam{n:03d}" for n in range(200)] + ["Smith"]


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-200000")
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")  # as the store's writer on a file
    return conn


def stamp(n: int) -> str:
    return f"2026-01-01T00:{n // 60_000_000 % 60:02d}:{n // 1_000_000 % 60:02d}.{n % 1_000_000:06d}Z"


def make_patient(rng: random.Random, pid: str, tenant: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"versionId": "1", "lastUpdated": stamp(n), "tag": [{"system": TENANT_SYSTEM, "code": tenant}]},
        "name": [{"family": rng.choice(FAMILIES), "given": [rng.choice(["Ann", "Bob", "Cy", "Di"])]}],
        "gender": rng.choice(["male", "female"]),
        "birthDate": f"{rng.randint(1930, 2020)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        "identifier": [{"system": "urn:mrn", "value": pid}],
    }


def make_observation(rng: random.Random, oid: str, tenant: str, patient: str, n: int) -> dict[str, Any]:
    day = rng.randint(0, 4 * 365 - 1)
    year, rest = 2022 + day // 365, day % 365
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "meta": {"versionId": "1", "lastUpdated": stamp(n), "tag": [{"system": TENANT_SYSTEM, "code": tenant}]},
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": rng.choice(CODES)}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": f"{year}-{rest // 31 + 1:02d}-{rest % 28 + 1:02d}T{rng.randint(0, 23):02d}:00:00Z",
        "valueQuantity": {
            "value": rng.randint(40, 180),
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def write(conn: sqlite3.Connection, resource: dict[str, Any], tenant: str, *, index: bool) -> None:
    conn.execute(
        "INSERT INTO resources VALUES ('test', ?, ?, ?, 1, ?, 0, ?)",
        (
            resource["resourceType"],
            resource["id"],
            tenant,
            resource["meta"]["lastUpdated"],
            orjson.dumps(resource).decode(),
        ),
    )
    if index:
        search.reindex(
            conn, env="test", type=resource["resourceType"], id=resource["id"], tenant=tenant, resource=resource
        )


def load(conn: sqlite3.Connection, scale: float, rng: random.Random) -> dict[str, list[str]]:
    """Load the data set in batched transactions; returns the patient ids per tenant."""
    patients = {t: [f"{t}-p{i}" for i in range(int(5000 * scale))] for t in TENANTS}
    counter = 0
    conn.execute("BEGIN")
    for tenant in TENANTS:
        for pid in patients[tenant]:
            counter += 1
            write(conn, make_patient(rng, pid, tenant, counter), tenant, index=True)
    conn.execute("COMMIT")
    for tenant in TENANTS:
        conn.execute("BEGIN")
        for i in range(int(50_000 * scale)):
            counter += 1
            obs = make_observation(rng, f"{tenant}-o{i}", tenant, rng.choice(patients[tenant]), counter)
            write(conn, obs, tenant, index=True)
            if i % 5000 == 4999:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
        conn.execute("COMMIT")
    return patients


def write_throughput(
    conn: sqlite3.Connection, rng: random.Random, patients: list[str], n: int = 2000
) -> tuple[float, float]:
    """Creates per second, one transaction each, into the loaded store: (indexed, unindexed).

    Blocks of 250 alternate so both see the same machine load; the unindexed writes go to the
    store table only (they are invisible to the engine and to tenant org_a's queries)."""
    spent = {True: 0.0, False: 0.0}
    for block in range(2 * n // 250):
        index = block % 2 == 0
        batch = [
            make_observation(rng, f"w{block}-{i}", "org_b", rng.choice(patients), block * 250 + i) for i in range(250)
        ]
        started = time.perf_counter()
        for obs in batch:
            conn.execute("BEGIN")
            write(conn, obs, "org_b", index=index)
            conn.execute("COMMIT")
        spent[index] += time.perf_counter() - started
    return n / spent[True], n / spent[False]


def sandbox_throughput(db: Path | None, rng: random.Random, n_patients: int = 500, n: int = 2000) -> float:
    """Creates/s of Observations POSTed through a real in-process ``Sandbox`` (httpx transport, one
    request and one store transaction each: validation, tenant tag, history and index rows), into a
    sandbox holding ``n_patients`` Patients the Observations refer to."""
    import httpx

    from clinikfhir.sandbox import Sandbox

    sb = Sandbox(db=db)
    try:
        key = sb.create_key("org_a")
        with httpx.Client(base_url=sb.base_url, transport=sb.transport(), headers={"x-api-key": key}) as client:
            pids: list[str] = []
            for i in range(n_patients):
                body = make_patient(rng, "x", "org_a", i)
                del body["id"], body["meta"]
                r = client.post("/v1/fhir/Patient", json=body)
                assert r.status_code == 201, r.status_code
                pids.append(str(r.json()["id"]))
            batch: list[bytes] = []
            for i in range(n):
                obs = make_observation(rng, "x", "org_a", rng.choice(pids), i)
                del obs["id"], obs["meta"]
                batch.append(orjson.dumps(obs))
            headers = {"content-type": "application/fhir+json"}
            started = time.perf_counter()
            for content in batch:
                r = client.post("/v1/fhir/Observation", content=content, headers=headers)
                assert r.status_code == 201, r.status_code
            return n / (time.perf_counter() - started)
    finally:
        sb.close()


def timeit(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


# -- linear-scan baselines ----------------------------------------------------------------------
def scan(conn: sqlite3.Connection, rtype: str, tenant: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT body FROM resources WHERE env = 'test' AND type = ? AND tenant = ? AND deleted = 0", (rtype, tenant)
    )
    return [orjson.loads(r[0]) for r in rows]


def baseline_a(conn: sqlite3.Connection) -> list[str]:
    low = date_range("2024-01-01")
    assert low is not None
    hits = []
    for obs in scan(conn, "Observation", "org_a"):
        if any(c.get("code") == "8867-4" for c in obs["code"]["coding"]):
            rng = date_range(obs["effectiveDateTime"])
            if rng is not None and (rng[0] >= low[0] or rng[1] > low[1]):
                hits.append((rng[0], obs["id"]))
    hits.sort(key=lambda h: (-h[0], h[1]))
    return [h[1] for h in hits[:50]]


def _patients_named(conn: sqlite3.Connection, family: str) -> set[str]:
    want = normalise(family)
    return {
        p["id"]
        for p in scan(conn, "Patient", "org_a")
        if any(
            normalise(part).startswith(want)
            for n in p.get("name", [])
            for part in [n.get("family", ""), *n.get("given", [])]
        )
    }


def baseline_b(conn: sqlite3.Connection, family: str) -> list[str]:
    pids = _patients_named(conn, family)
    hits = [o["id"] for o in scan(conn, "Observation", "org_a") if o["subject"]["reference"][8:] in pids]
    return sorted(hits)[:50]


def baseline_c(conn: sqlite3.Connection, family: str) -> tuple[list[str], list[str]]:
    pids = sorted(_patients_named(conn, family))[:50]
    page = set(pids)
    inc = [o["id"] for o in scan(conn, "Observation", "org_a") if o["subject"]["reference"][8:] in page]
    return pids, inc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 Observations + 10,000 Patients")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--baseline-repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(Path(tmp) / "bench.db")
        for ddl in STORE_DDL:
            conn.execute(ddl)
        search.install(conn)
        started = time.perf_counter()
        patients = load(conn, args.scale, rng)
        load_seconds = time.perf_counter() - started
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as after any quiet period of a served sandbox
        n_obs = conn.execute("SELECT COUNT(*) FROM resources WHERE type = 'Observation'").fetchone()[0]
        n_pat = conn.execute("SELECT COUNT(*) FROM resources WHERE type = 'Patient'").fetchone()[0]
        print(f"scale {args.scale}: {n_obs} Observations, {n_pat} Patients, 2 tenants; load {load_seconds:.1f} s")

        def run(rtype: str, params: list[tuple[str, str]]) -> search.SearchResult:
            return search.run(
                conn, env="test", tenant="org_a", type=rtype, params=params, offset=0, count=50, lenient=False
            )

        qa = [("code", "8867-4"), ("date", "ge2024-01-01"), ("_sort", "-date")]
        qb = [("subject:Patient.name", "Smith")]
        qc = [("name", "Smith"), ("_revinclude", "Observation:subject")]
        # the engine and the baselines agree on the first page
        assert run("Observation", qa).ids == baseline_a(conn)
        assert run("Observation", qb).ids == baseline_b(conn, "Smith")
        result_c = run("Patient", qc)
        base_c = baseline_c(conn, "Smith")
        assert result_c.ids == base_c[0]
        assert sorted(i for _, i in result_c.includes) == sorted(base_c[1])
        rows = [
            ("(a) code+date+sort", lambda: run("Observation", qa), lambda: baseline_a(conn)),
            ("(b) chained subject:Patient.name", lambda: run("Observation", qb), lambda: baseline_b(conn, "Smith")),
            ("(c) name + _revinclude", lambda: run("Patient", qc), lambda: baseline_c(conn, "Smith")),
        ]
        print(f"{'query':36} {'p50 ms':>8} {'p95 ms':>8} | {'scan p50':>9} {'scan p95':>9} | {'speed-up':>8}")
        for label, engine, base in rows:
            p50, p95 = timeit(engine, args.repeat)
            b50, b95 = timeit(base, args.baseline_repeat)
            print(f"{label:36} {p50:8.2f} {p95:8.2f} | {b50:9.1f} {b95:9.1f} | {b50 / p50:7.0f}x")
        indexed_rate, plain_rate = write_throughput(conn, rng, patients["org_b"])
        print(
            f"creates/s into the loaded file store (WAL, one transaction each, 2000 each): indexed "
            f"{indexed_rate:.0f}, unindexed baseline {plain_rate:.0f}; goal >= 500 indexed"
        )
        memory = sqlite3.connect(":memory:", isolation_level=None)
        for ddl in STORE_DDL:
            memory.execute(ddl)
        search.install(memory)
        small = load(memory, min(args.scale, 0.1), random.Random(7))
        mem_indexed, mem_plain = write_throughput(memory, rng, small["org_b"])
        memory.close()
        print(
            f"creates/s into an in-memory store (the sandbox default), {min(args.scale, 0.1)} scale loaded: "
            f"indexed {mem_indexed:.0f}, unindexed baseline {mem_plain:.0f}"
        )
        sb_memory = sandbox_throughput(None, rng)
        sb_file = sandbox_throughput(Path(tmp) / "sandbox.db", rng)
        print(
            "creates/s end to end through the real sandbox (in-process Sandbox + httpx transport; gateway, "
            "validation, history, index; 500 Patients loaded, 2000 Observation POSTs): "
            f"in-memory {sb_memory:.0f} (engine-only above: {mem_indexed:.0f}), "
            f"file {sb_file:.0f} (engine-only above: {indexed_rate:.0f})"
        )
        print(
            f"totals: (a) {run('Observation', qa).total}  (b) {run('Observation', qb).total}  "
            f"(c) {result_c.total} patients, {len(result_c.includes)} included"
        )
        conn.close()


if __name__ == "__main__":
    main()
