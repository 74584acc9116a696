"""A tiny real HTTP/1.1 server on 127.0.0.1 that answers with scripted raw bytes.

Used to feed the client what a broken proxy or server sends (HTML 502s, truncated bodies, wrong
resource types, redirects, slow answers) over a real socket, without mocking any of our code.
Every request it receives is recorded (method, path, headers) so tests can check what was sent.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

RELEASE_WITHIN = 30.0  # a safety net only: how long a held or paced answer waits for the test


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """What to answer: raw bytes; ``close_after`` cuts the bytes short.

    No sleeps, no wall-clock pacing: ``hold`` keeps the answer back until the test sets the event
    (a server that does not answer), and ``pace`` sends the head and the body's first byte, then
    one more body byte each time the test releases the semaphore (a server that trickles, moved in
    lock step by the test, for example from an injected clock).
    """

    raw: bytes
    close_after: int | None = None
    hold: threading.Event | None = None
    pace: threading.Semaphore | None = None


def response(status: int, body: bytes | str = b"", headers: dict[str, str] | None = None, reason: str = "X") -> bytes:
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} {reason}"]
    hdrs = {"content-length": str(len(data)), "connection": "close", **(headers or {})}
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


@dataclass
class RawServer:
    """``server.answer(fn)`` sets ``fn(seen) -> Script`` for every request; ``server.seen`` records them."""

    sock: socket.socket = field(init=False)
    seen: list[Seen] = field(default_factory=lambda: [])
    handler: Callable[[Seen], Script] = field(default=lambda s: Script(response(200, b"{}")))

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def answer(self, handler: Callable[[Seen], Script]) -> None:
        self.handler = handler

    def always(
        self,
        raw: bytes,
        *,
        close_after: int | None = None,
        hold: threading.Event | None = None,
        pace: threading.Semaphore | None = None,
    ) -> None:
        self.handler = lambda _s: Script(raw, close_after=close_after, hold=hold, pace=pace)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                seen = Seen(method, target, headers, rest)
                self.seen.append(seen)
                script = self.handler(seen)
                if script.hold is not None and not script.hold.wait(RELEASE_WITHIN):
                    return  # the test never released it: close without answering
                raw = script.raw if script.close_after is None else script.raw[: script.close_after]
                if script.pace is not None:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    head_end = raw.index(b"\r\n\r\n") + 4
                    conn.sendall(raw[: head_end + 1])
                    for i in range(head_end + 1, len(raw)):
                        if not script.pace.acquire(timeout=RELEASE_WITHIN):
                            return  # the client stopped reading: cut the body short
                        conn.sendall(raw[i : i + 1])
                else:
                    conn.sendall(raw)
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self.sock.close()
