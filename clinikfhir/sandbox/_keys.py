"""API keys: formats, scopes, tenants, environments, revocation and expiry (gateway.md §1-2)."""

from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass
from typing import Literal

from clinikfhir._wire import KEY_PATTERN as KEY_FORMAT

from ._clock import Clock, SystemClock
from ._http import GatewayError

Scope = Literal["read", "write", "*"]
Env = Literal["test", "live"]

_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(slots=True)
class KeyInfo:
    """What the gateway knows about a key. ``expires_at`` is a wall-clock time (the sandbox clock's) or None."""

    tenant: str
    scope: Scope
    env: Env
    revoked_at: float | None = None
    expires_at: float | None = None


class KeyRing:
    """The keys the sandbox accepts. Thread-safe.

    Revocation bites immediately unless ``revocation_lag`` emulates the gateway's key cache (§2: up to
    60 s): a revoked key keeps working for that many seconds."""

    def __init__(self, revocation_lag: float = 0.0, clock: Clock | None = None) -> None:
        if not revocation_lag >= 0:
            raise ValueError("revocation_lag must not be negative")
        self.revocation_lag = revocation_lag
        self.clock: Clock = clock or SystemClock()
        self._keys: dict[str, KeyInfo] = {}
        self._lock = threading.Lock()

    def add(self, key: str, tenant: str, scope: Scope = "*", *, expires_at: float | None = None) -> str:
        """Accept ``key`` (which must have the documented format) for ``tenant`` with ``scope``."""
        match = KEY_FORMAT.fullmatch(key)
        if match is None:
            raise ValueError("an API key must look like clk_test_<alphanumerics> or clk_live_<alphanumerics>")
        if scope not in ("read", "write", "*"):
            raise ValueError("scope must be 'read', 'write' or '*'")
        if not tenant:
            raise ValueError("tenant must be a non-empty string")
        env: Env = "live" if match.group(1) == "live" else "test"
        with self._lock:
            self._keys[key] = KeyInfo(tenant, scope, env, expires_at=expires_at)
        return key

    def create(self, tenant: str, scope: Scope = "*", env: Env = "test", *, expires_at: float | None = None) -> str:
        """Mint a fresh random key for ``tenant``."""
        if env not in ("test", "live"):
            raise ValueError("env must be 'test' or 'live'")
        key = f"clk_{env}_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))
        return self.add(key, tenant, scope, expires_at=expires_at)

    def revoke(self, key: str) -> None:
        """Revoke ``key``; later requests with it get 401 KEY_REVOKED."""
        with self._lock:
            info = self._keys.get(key)
            if info is None:
                raise KeyError("no such key")
            if info.revoked_at is None:
                info.revoked_at = self.clock.time()

    def expire(self, key: str) -> None:
        """Make ``key`` expired now; later requests with it get 401 KEY_EXPIRED."""
        with self._lock:
            info = self._keys.get(key)
            if info is None:
                raise KeyError("no such key")
            info.expires_at = self.clock.time() - 1.0

    def info(self, key: str) -> KeyInfo | None:
        with self._lock:
            return self._keys.get(key)

    def tenants(self) -> set[str]:
        """Every tenant code some key belongs to."""
        with self._lock:
            return {k.tenant for k in self._keys.values()}

    def items(self) -> list[tuple[str, KeyInfo]]:
        with self._lock:
            return list(self._keys.items())

    def authenticate(self, key: str | None) -> KeyInfo:
        """The key's info, or the documented 401 (UNAUTHORIZED, INVALID_KEY_FORMAT, INVALID_KEY,
        KEY_REVOKED, KEY_EXPIRED). Messages never echo the key."""
        if key is None or key == "":
            raise GatewayError(401, "UNAUTHORIZED", "An x-api-key header is required")
        if KEY_FORMAT.fullmatch(key) is None:
            raise GatewayError(401, "INVALID_KEY_FORMAT", "The API key is not of the form clk_live_… or clk_test_…")
        info = self.info(key)
        if info is None:
            raise GatewayError(401, "INVALID_KEY", "The API key is not valid")
        now = self.clock.time()
        if info.revoked_at is not None and now - info.revoked_at >= self.revocation_lag:
            raise GatewayError(401, "KEY_REVOKED", "The API key has been revoked")
        if info.expires_at is not None and info.expires_at <= now:
            raise GatewayError(401, "KEY_EXPIRED", "The API key has expired")
        return info
