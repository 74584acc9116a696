"""The plain httpx loop of ``bench_load.py``: transaction Bundles POSTed as they are, N in flight.

Imported by ``bench_load.py`` for its in-process rows, and run as a program of its own for the row
that compares like with like against the whole ``clinikfhir load`` command (both timed from process
start to exit, interpreter start-up, imports and exit included)::

    python benchmarks/plain_loop.py BASE_URL KEY CONCURRENCY FILE...

The first two files (Synthea's shared Organizations and Practitioners) are sent one after the other
before the rest, as ``clinikfhir load`` does. It imports nothing but asyncio and httpx.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


async def post_all(
    base: str,
    key: str,
    bodies: list[bytes],
    concurrency: int,
    *,
    minimal: bool = False,
    check: Callable[[bytes], Any] | None = None,
) -> None:
    """POST every body to ``{base}/v1/fhir``, ``concurrency`` at once (the first two first, in turn);
    ``minimal``: with ``Prefer: return=minimal``; ``check(body)`` runs before each is sent."""
    headers = {"x-api-key": key, "content-type": "application/fhir+json"}
    if minimal:
        headers["prefer"] = "return=minimal"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        semaphore = asyncio.Semaphore(concurrency)

        async def post(body: bytes) -> None:
            async with semaphore:
                if check is not None:
                    check(body)
                response = await client.post("/v1/fhir", content=body)
                response.raise_for_status()

        for body in bodies[:2]:
            await post(body)
        await asyncio.gather(*(post(b) for b in bodies[2:]))


def main() -> None:
    base, key, concurrency, *files = sys.argv[1:]
    asyncio.run(post_all(base, key, [Path(f).read_bytes() for f in files], int(concurrency)))


if __name__ == "__main__":
    main()
