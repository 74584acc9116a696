"""Warm completion latency in pyright's language server (what Pylance users wait for), and the cold
import time of ``clinikfhir``.

    python benchmarks/bench_completion.py [--repeat 5] [--root DIR]

``--root`` points at another checkout (e.g. ``git archive main | tar -x -C /tmp/main``) for a
before/after comparison; points its code lacks show "NO" under "expected item".

Drives ``pyright-langserver --stdio`` over LSP on a scratch file in a temporary workspace (the
interpreter running this script supplies the packages; the repository root is an extra path), asks
for completions at each point several times, editing the file before each request so pyright
re-evaluates it as it does while one types, and prints the median of the warm requests (the first is
dropped) beside ``os.`` in the same run. ``clinik.search(Observation).`` is the overloaded entry
point, kept for comparison with ``clinik.search.Observation.``. Goal: <= 0.5 s warm at every point.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = """import os
from clinikfhir import Clinik
from clinikfhir.models import Observation, Patient

clinik = Clinik()
"""

POINTS: list[tuple[str, str, str]] = [
    ("os.", "os.", "path"),
    ("clinik.search.", "clinik.search.", "Observation"),
    ("clinik.search.Observation.", "clinik.search.Observation.", "code"),
    ("clinik.search.Observation.date.", "clinik.search.Observation.date.", "ge"),
    ("clinik.search.Observation.subject.", "clinik.search.Observation.subject.", "Patient"),
    ("Patient(", "Patient(", "gender"),
    ("clinik.search(Observation).  [overloads]", "clinik.search(Observation).", "code"),
]


class Server:
    """A minimal LSP client: JSON-RPC over the server's stdin/stdout."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = 0
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("pyright-langserver exited")
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        message: dict[str, Any] = json.loads(self.proc.stdout.read(length))
        return message

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        my_id = self.next_id
        self.send({"id": my_id, "method": method, "params": params})
        while True:
            message = self.read()
            if message.get("id") == my_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result")
            if "method" in message and "id" in message:  # a request from the server: answer it
                result: Any = None
                if message["method"] == "workspace/configuration":
                    result = [None for _ in message["params"]["items"]]
                self.send({"id": message["id"], "result": result})

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def _langserver() -> list[str]:
    local = Path(sys.executable).parent / "pyright-langserver"
    found = str(local) if local.exists() else shutil.which("pyright-langserver")
    if not found:
        raise SystemExit("pyright-langserver not found: pip install pyright")
    return [found, "--stdio"]


def completion_latency(repeat: int, root: Path = ROOT) -> list[tuple[str, float, float, int, bool]]:
    """(point, first request s, warm median s, number of items, expected item present)."""
    workspace = Path(tempfile.mkdtemp(prefix="bench_completion_"))
    config = {"extraPaths": [str(root)], "pythonVersion": "3.11", "typeCheckingMode": "standard"}
    config["venvPath"], config["venv"] = str(Path(sys.prefix).parent), Path(sys.prefix).name
    (workspace / "pyrightconfig.json").write_text(json.dumps(config))
    doc = workspace / "case.py"
    uri = doc.as_uri()
    server = Server(_langserver(), workspace)
    results = []
    try:
        server.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": workspace.as_uri(),
                "capabilities": {"textDocument": {"completion": {"completionItem": {"snippetSupport": False}}}},
                "workspaceFolders": [{"uri": workspace.as_uri(), "name": "bench"}],
            },
        )
        server.notify("initialized", {})
        version = 1
        server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": PRELUDE}},
        )
        for label, tail, expected in POINTS:
            times: list[float] = []
            items: list[dict[str, Any]] = []
            for n in range(repeat + 1):
                text = PRELUDE + f"x{n} = 1\n" + tail  # a fresh edit each time, as while typing
                lines = text.splitlines()
                version += 1
                server.notify(
                    "textDocument/didChange",
                    {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
                )
                started = time.perf_counter()
                result = server.request(
                    "textDocument/completion",
                    {
                        "textDocument": {"uri": uri},
                        "position": {"line": len(lines) - 1, "character": len(lines[-1])},
                    },
                )
                times.append(time.perf_counter() - started)
                items = result["items"] if isinstance(result, dict) else (result or [])
            names = {str(i.get("label", "")).rstrip("=") for i in items}
            results.append((label, times[0], statistics.median(times[1:]), len(items), expected in names))
    finally:
        server.close()
        shutil.rmtree(workspace, ignore_errors=True)
    return results


def import_time(root: Path = ROOT, runs: int = 7) -> tuple[float, float]:
    """Median cold ``import clinikfhir`` and ``import clinikfhir, clinikfhir.models, clinikfhir.search``
    (ms) of the checkout at ``root``, each in a fresh interpreter started outside it. Bytecode is
    written (PYTHONDONTWRITEBYTECODE unset) and one untimed import comes first, as after an install."""
    code = (
        "import time; t = time.perf_counter(); import clinikfhir; a = time.perf_counter();"
        "import clinikfhir.models, clinikfhir.search; b = time.perf_counter();"
        f"assert clinikfhir.__file__.startswith({str(root)!r}), clinikfhir.__file__; print(a - t, b - t)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(root)
    package: list[float] = []
    surfaces: list[float] = []
    with tempfile.TemporaryDirectory() as cwd:
        for n in range(runs + 1):
            run = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=cwd
            )
            if n:
                out = run.stdout.split()
                package.append(float(out[0]) * 1000)
                surfaces.append(float(out[1]) * 1000)
    return statistics.median(package), statistics.median(surfaces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per point (after a first one)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose clinikfhir is completed")
    args = parser.parse_args()
    root = args.root.resolve()
    package, surfaces = import_time(root)
    print(
        f"import clinikfhir: {package:.1f} ms (goal < 50); "
        f"with clinikfhir.models and clinikfhir.search: {surfaces:.1f} ms (median of 7 cold imports)"
    )
    rows = completion_latency(args.repeat, root)
    baseline = next(warm for label, _first, warm, _n, _ok in rows if label == "os.")
    print(f"\npyright-langserver completion, median of {args.repeat} warm requests (goal <= 0.5 s)")
    print(f"{'point':44} {'first s':>8} {'warm s':>8} {'x os.':>7} {'items':>6}  expected item")
    for label, first, warm, count, ok in rows:
        ratio = warm / baseline if baseline else float("nan")
        print(f"{label:44} {first:8.3f} {warm:8.3f} {ratio:7.1f} {count:6d}  {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
