"""The retry policy, one object: what is retried, how long to wait, and when to give up."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from clinikfhir._public import shown_as_root

SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
NOT_RETRIED_CODES = frozenset({"MONTHLY_QUOTA_EXCEEDED", "SANDBOX_QUOTA_EXCEEDED"})


@dataclass(frozen=True)
class RetryPolicy:
    """When and how a failed attempt is retried.

    Retried: 429 (except monthly-quota codes), every 5xx, network errors and timeouts. GET, PUT and
    DELETE are retried freely; POST and PATCH only because the client sends an ``Idempotency-Key``
    (the same on every attempt), so the server replays instead of applying twice.

    The wait before retry *n* (0-based) is full jitter, ``uniform(0, min(cap, base * 2**n))``, but
    never shorter than the server's ``Retry-After``. No retry starts if its wait would end after the
    overall ``deadline`` (seconds since the first attempt); the last error is raised instead.

    ``clock`` is what every deadline is measured on (the call's, and each attempt's ``timeout``):
    monotonic seconds, :func:`time.monotonic` by default; ``rng`` draws the jitter. Both can be
    injected, so a test can stand in for time without waiting.
    """

    max_retries: int = 2
    backoff_base: float = 1.0
    backoff_cap: float = 10.0
    deadline: float = 120.0
    honour_retry_after: bool = True
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def backoff(self, retry_index: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_index`` (0-based)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2**retry_index))
        wait = self.rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0
        if self.honour_retry_after and retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def may_retry_method(self, method: str, has_idempotency_key: bool) -> bool:
        """True when repeating ``method`` cannot apply a change twice."""
        return method.upper() in SAFE_METHODS or has_idempotency_key

    def retryable_status(self, status: int, code: str = "") -> bool:
        """True for 429 (not quota exhaustion) and every 5xx."""
        if status == 429:
            return code not in NOT_RETRIED_CODES
        return status >= 500


shown_as_root(RetryPolicy)  # shown as clinikfhir.RetryPolicy, its public name
