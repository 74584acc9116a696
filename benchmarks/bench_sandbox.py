"""Sandbox latency and throughput: create and read over loopback HTTP (1 and 8 concurrent clients)
and over the in-process transport, beside a bare uvicorn app answering a fixed JSON body (the floor
of the HTTP stack) measured in the same run.

    .venv/bin/python benchmarks/bench_sandbox.py [--n 400] [--root /tmp/main]

The server runs in its own process (as `clinikfhir sandbox` does), so client and server do not share
one interpreter lock. Goals on a 2-core machine: create p50 <= 3 ms, read p50 <= 1.5 ms over
loopback, >= 500 creates/s with 8 clients.

``--root`` also measures the loopback figures of another checkout (e.g. main:
``git -C /work/main archive main | tar -x -C /tmp/main``), served the same way, in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

KEY = "clk_test_benchmark0001"
PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
    "active": True,
    "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
    "telecom": [{"system": "phone", "value": "(03) 5555 6473", "use": "work"}],
    "gender": "male",
    "birthDate": "1974-12-25",
    "address": [{"use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}],
}

BARE_APP = textwrap.dedent(
    """
    import sys, uvicorn
    BODY = b'{"resourceType":"Patient","id":"x","meta":{"versionId":"1"},"gender":"male"}'
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/fhir+json"),
                                (b"content-length", str(len(BODY)).encode())]})
        await send({"type": "http.response.body", "body": BODY})
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    print("listening on http://127.0.0.1:%d" % sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
    """
)


@contextmanager
def server(cmd: list[str]) -> Iterator[str]:
    with server_proc(cmd) as (url, _pid):
        yield url


@contextmanager
def server_proc(cmd: list[str]) -> Iterator[tuple[str, int]]:
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                yield found.group(1), proc.pid
                break
        else:
            raise RuntimeError("server did not start")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def timed(call: Callable[[], httpx.Response], n: int, expect: int) -> list[float]:
    out: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        r = call()
        out.append(time.perf_counter() - start)
        if r.status_code != expect:
            raise RuntimeError(f"unexpected status {r.status_code}")
    return out


def concurrent(
    make: Callable[[], httpx.Client], op: Callable[[httpx.Client], httpx.Response], clients: int, n: int, expect: int
) -> tuple[list[float], float]:
    lat: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        with make() as c:
            op(c)  # warm the connection
            barrier.wait()
            lat[i] = timed(lambda: op(c), n // clients, expect)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    flat = [x for part in lat for x in part]
    return flat, len(flat) / wall


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:  # not Linux
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_per_request(cmd: list[str], path: str, expect: int, n: int) -> float | None:
    """Milliseconds of server CPU (user + system of the server process) per POST with 8 clients.

    Unlike wall-clock figures this hardly moves with other load on a shared machine."""
    with server_proc(cmd) as (url, pid):

        def make() -> httpx.Client:
            return httpx.Client(base_url=url, headers={"x-api-key": KEY})

        concurrent(make, lambda c: c.post(path, json=PATIENT), 8, 200, expect)
        before = _cpu_seconds(pid)
        concurrent(make, lambda c: c.post(path, json=PATIENT), 8, 2 * n, expect)
        after = _cpu_seconds(pid)
    if before is None or after is None:
        return None
    return (after - before) / (2 * n) * 1000


def sandbox_cmd(root: Path | None) -> list[str]:
    """``clinikfhir sandbox`` on a free port, from this environment or from the checkout at ``root``."""
    run = "import sys; from clinikfhir.cli import main; sys.exit(main())"
    if root is not None:
        run = f"import sys; sys.path.insert(0, {str(root)!r}); " + run
    return [sys.executable, "-c", run, "sandbox", "--port", "0", "--key", f"{KEY}=org_bench"]


def loopback(cmd: list[str], n: int, label: str) -> tuple[list[str], dict[str, float]]:
    """Create and read over loopback HTTP, 1 and 8 clients: table rows and the p50s (ms)."""
    rows: list[str] = []
    with server(cmd) as base:

        def make() -> httpx.Client:
            return httpx.Client(base_url=base, headers={"x-api-key": KEY})

        with make() as c:
            timed(lambda: c.post("/v1/fhir/Patient", json=PATIENT), 50, 201)
            create = timed(lambda: c.post("/v1/fhir/Patient", json=PATIENT), n, 201)
            pid = c.post("/v1/fhir/Patient", json=PATIENT).json()["id"]
            read = timed(lambda: c.get(f"/v1/fhir/Patient/{pid}"), n, 200)
        rows.append(row(f"{label}loopback HTTP create, 1 client", create, len(create) / sum(create)))
        rows.append(row(f"{label}loopback HTTP read, 1 client", read, len(read) / sum(read)))
        lat, create8 = concurrent(make, lambda c: c.post("/v1/fhir/Patient", json=PATIENT), 8, n, 201)
        rows.append(row(f"{label}loopback HTTP create, 8 clients", lat, create8))
        create8_p50 = statistics.median(lat)
        lat, rate = concurrent(make, lambda c: c.get(f"/v1/fhir/Patient/{pid}"), 8, n, 200)
        rows.append(row(f"{label}loopback HTTP read, 8 clients", lat, rate))
    figures = {
        "create": statistics.median(create) * 1000,
        "read": statistics.median(read) * 1000,
        "create8": create8,
        "create8_p50": create8_p50,
    }
    return rows, figures


def row(label: str, lat: list[float], rate: float) -> str:
    q = statistics.quantiles(lat, n=20)
    return f"{label:<50} {statistics.median(lat) * 1000:8.2f} {q[18] * 1000:8.2f} {rate:10.0f}"


def http_stack() -> str:
    """Which parser and event loop uvicorn's "auto" settings pick here (the sandbox extra installs
    httptools and uvloop; without them uvicorn falls back to h11 and asyncio)."""
    from importlib.util import find_spec

    parser = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"{parser} + {loop}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400, help="requests per measurement")
    parser.add_argument("--root", type=Path, help="another checkout whose sandbox is measured beside this one")
    args = parser.parse_args()
    n = args.n
    header = f"{'measurement':<50} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>10}"
    rows: list[str] = []

    with server([sys.executable, "-c", BARE_APP]) as bare:

        def make_bare() -> httpx.Client:
            return httpx.Client(base_url=bare)

        with make_bare() as c:
            timed(lambda: c.get("/"), 50, 200)
            lat = timed(lambda: c.get("/"), n, 200)
        rows.append(row("baseline: bare uvicorn GET, 1 client", lat, len(lat) / sum(lat)))
        lat, rate = concurrent(make_bare, lambda c: c.post("/", json=PATIENT), 8, n, 200)
        rows.append(row("baseline: bare uvicorn POST, 8 clients", lat, rate))
        bare_p50 = statistics.median(lat)

    cmd = sandbox_cmd(None)
    other: dict[str, float] | None = None
    if args.root is not None:
        more, other = loopback(sandbox_cmd(args.root), n, "--root: ")
        rows += more
    more, mine = loopback(cmd, n, "")
    rows += more
    create, read, create8, create8_p50 = mine["create"], mine["read"], mine["create8"], mine["create8_p50"]

    # server CPU per request (robust against other load on the machine), same procedure on fresh servers
    cpu_sandbox = server_cpu_per_request(cmd, "/v1/fhir/Patient", 201, n)
    cpu_other = server_cpu_per_request(sandbox_cmd(args.root), "/v1/fhir/Patient", 201, n) if args.root else None
    cpu_bare = server_cpu_per_request([sys.executable, "-c", BARE_APP], "/", 200, n)

    from clinikfhir.sandbox import Sandbox

    with Sandbox() as sb, sb.client(sb.create_key("org_bench")) as c:
        timed(lambda: c.post("/v1/fhir/Patient", json=PATIENT), 50, 201)
        lat = timed(lambda: c.post("/v1/fhir/Patient", json=PATIENT), n, 201)
        rows.append(row("in-process transport create", lat, len(lat) / sum(lat)))
        pid = c.post("/v1/fhir/Patient", json=PATIENT).json()["id"]
        lat = timed(lambda: c.get(f"/v1/fhir/Patient/{pid}"), n, 200)
        rows.append(row("in-process transport read", lat, len(lat) / sum(lat)))

    print(f"uvicorn's HTTP stack, for both servers: {http_stack()}")
    print(header)
    print("-" * len(header))
    for line in rows:
        print(line)
    print()
    print(
        f"create p50 {create:.2f} ms (goal <= 3), "
        f"read p50 {read:.2f} ms (goal <= 1.5), "
        f"8-client creates {create8:.0f}/s (goal >= 500)"
    )
    if other is not None:
        print(
            f"--root {args.root}: create p50 {other['create']:.2f} ms, read p50 {other['read']:.2f} ms, "
            f"8-client creates {other['create8']:.0f}/s"
        )
    print(f"8-client create p50 / bare-uvicorn 8-client POST p50: {create8_p50 / bare_p50:.2f}x")
    if cpu_sandbox is not None and cpu_bare is not None:
        print(
            f"server CPU per request (8 clients): sandbox create {cpu_sandbox:.3f} ms, "
            f"bare uvicorn POST {cpu_bare:.3f} ms, ratio {cpu_sandbox / cpu_bare:.2f}x"
        )
    if cpu_other is not None:
        print(f"server CPU per request (8 clients), --root sandbox create: {cpu_other:.3f} ms")


if __name__ == "__main__":
    main()
