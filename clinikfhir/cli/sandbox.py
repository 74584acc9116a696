"""``clinikfhir sandbox``: serve the local gateway over HTTP until interrupted, optionally seeded with
data (``--seed``, loaded by the same code as ``clinikfhir load``).

Light to import: the sandbox itself is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from typing import TYPE_CHECKING

from ._common import MissingExtra, require_rich

if TYPE_CHECKING:
    from clinikfhir._load.loader import LoadReport
    from clinikfhir.sandbox import Sandbox


def _key_spec(text: str) -> tuple[str, str, str]:
    key, sep, rest = text.partition("=")
    if not sep or not key or not rest:
        raise argparse.ArgumentTypeError("expected KEY=TENANT or KEY=TENANT:SCOPE")
    tenant, _, scope = rest.partition(":")
    scope = scope or "*"
    if scope not in ("read", "write", "*"):
        raise argparse.ArgumentTypeError("SCOPE must be read, write or *")
    if not tenant:
        raise argparse.ArgumentTypeError("TENANT must not be empty")
    return key, tenant, scope


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sandbox`` command's options and its ``run`` function to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 = any free port)")
    parser.add_argument("--db", default=None, help="SQLite file: keeps the data across restarts (default: in memory)")
    parser.add_argument(
        "--key",
        action="append",
        type=_key_spec,
        default=[],
        metavar="KEY=TENANT[:SCOPE]",
        help="accept KEY (clk_test_… or clk_live_…) for TENANT with SCOPE read, write or * (repeatable)",
    )
    parser.add_argument(
        "--tenant",
        action="append",
        default=[],
        help="create a demo key for this tenant (default when no --key: org_demo and org_other)",
    )
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute per organisation (off)")
    parser.add_argument(
        "--index-lag", type=float, default=0.0, help="seconds before a write shows in searches (default 0)"
    )
    parser.add_argument(
        "--revocation-lag", type=float, default=0.0, help="seconds a revoked key keeps working (default 0)"
    )
    parser.add_argument(
        "--public-base-url",
        default=None,
        metavar="URL",
        help="origin of every fullUrl and page link, e.g. https://sandbox.example:8443 behind a proxy "
        "(default: the address served on; never the request's Host header)",
    )
    parser.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="PATH",
        help="load these files, folders or archives (as 'clinikfhir load' does) into the first tenant before "
        "serving (repeatable)",
    )
    parser.set_defaults(run=run)


EXAMPLES = """\
examples:
  clinikfhir sandbox                                   # port 8080, in memory, demo keys printed
  clinikfhir sandbox --port 0 --key clk_test_local1=org_demo
  clinikfhir sandbox --db data.db --seed ./synthea/output/fhir
  clinikfhir sandbox --host 0.0.0.0                    # reachable from other machines: you are warned
  clinikfhir sandbox --public-base-url https://fhir.test.example   # links and fullUrls behind a proxy

The FHIR base URL to give a client is the printed origin (http://127.0.0.1:PORT); the client adds /v1/fhir.
Serving needs uvicorn: pip install 'clinikfhir[sandbox]'."""


def _seed(sb: Sandbox, key: str, paths: list[str]) -> bool:
    """Load ``paths`` into the tenant of ``key`` in-process; prints the summary; False if anything was refused."""
    import asyncio

    from clinikfhir import AsyncClinik
    from clinikfhir._load.loader import Loader

    from ._common import console
    from .load import print_report

    async def load() -> LoadReport:
        async with AsyncClinik(key, base_url=sb.base_url, transport=sb.async_transport()) as clinik:
            return await Loader(clinik, concurrency=4).run(paths)

    report = asyncio.run(load())
    out = console(stderr=True)
    print_report(out, report)
    return report.ok


def run(args: argparse.Namespace) -> int:
    """Start the sandbox, print its base URL and keys, serve until Ctrl-C."""
    try:
        import uvicorn  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        raise MissingExtra("uvicorn", "sandbox") from None
    if args.seed:
        require_rich()
    from clinikfhir.sandbox import Sandbox

    try:
        sb = Sandbox(
            args.db,
            rate_limit=args.rate_limit,
            index_lag=args.index_lag,
            revocation_lag=args.revocation_lag,
            public_base_url=args.public_base_url,
        )
    except ValueError as exc:  # the options' names, as typed on the command line
        print(f"clinikfhir sandbox: {str(exc).replace('public_base_url', '--public-base-url')}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:
        print(f"clinikfhir sandbox: cannot open the store: {exc}", file=sys.stderr)
        return 2
    try:
        keys: list[tuple[str, str, str]] = []
        for key, tenant, scope in args.key:
            try:
                sb.add_key(key, tenant, scope)
            except ValueError as exc:
                print(f"clinikfhir sandbox: --key: {exc}", file=sys.stderr)
                return 2
            keys.append((key, tenant, scope))
        tenants = list(args.tenant) or ([] if keys else ["org_demo", "org_other"])
        for tenant in tenants:
            keys.append((sb.create_key(tenant), tenant, "*"))
        if args.seed:
            seed_key = next((k for k, _, scope in keys if scope != "read"), None)
            if seed_key is None:
                print("clinikfhir sandbox: --seed needs a key with write scope", file=sys.stderr)
                return 2
            if not _seed(sb, seed_key, args.seed):
                print(
                    "clinikfhir sandbox: some seed data was refused (listed above); serving the rest", file=sys.stderr
                )

        def ready(base: str) -> None:
            if args.host not in ("127.0.0.1", "localhost", "::1"):
                print(f"warning: listening on {args.host}, not only on loopback", file=sys.stderr)
            print(f"ClinikAPI sandbox listening on {base}")
            print(
                f"  base URL for clients: {base}  (--base-url / CLINIK_BASE_URL; the FHIR API is under {base}/v1/fhir)"
            )
            if sb.public_base_url != base:
                print(f"  links and fullUrls on: {sb.public_base_url}")
            print(f"  metadata: {base}/v1/metadata")
            print(f"  store: {args.db or 'in memory (lost on exit)'}")
            print("  keys (send as the x-api-key header):")
            for key, tenant, scope in keys:
                print(f"    {key}  tenant={tenant}  scope={scope}")
            print("Press Ctrl-C to stop.", flush=True)

        try:
            sb.serve_forever(args.host, args.port, ready=ready)
        except OSError as exc:
            print(f"clinikfhir sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
            return 2
        print("stopped")
        return 0
    finally:
        sb.close()
