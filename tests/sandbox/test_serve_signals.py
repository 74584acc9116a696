"""Ctrl-C or SIGTERM that reaches ``serve_forever`` right after its ``ready`` banner (before uvicorn
takes the signals over) stops the server cleanly, instead of landing as a stray KeyboardInterrupt."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

SCRIPT = """
import os, signal, sys
from clinikfhir.sandbox import Sandbox
sb = Sandbox()
sb.serve_forever("127.0.0.1", 0, ready=lambda url: os.kill(os.getpid(), int(sys.argv[1])))
sb.close()
print("stopped cleanly", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_banner_stops_the_server_cleanly(sig: signal.Signals) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(int(sig))], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("stopped cleanly")
    assert "Traceback" not in done.stderr
