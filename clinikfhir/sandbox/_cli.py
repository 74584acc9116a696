"""``python -m clinikfhir.sandbox._cli [options]``: ``clinikfhir sandbox`` without the top-level command
(the command itself is :mod:`clinikfhir.cli.sandbox`)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``clinikfhir sandbox`` with ``argv``."""
    from clinikfhir.cli import main as cli_main

    return cli_main(["sandbox", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
