"""The ``clinikfhir`` command: ``clinikfhir sandbox ...`` serves the local gateway,
``clinikfhir demo`` runs the guided tour on an embedded sandbox."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clinikfhir", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    from clinikfhir.sandbox._cli import add_arguments as add_sandbox_arguments

    add_sandbox_arguments(commands.add_parser("sandbox", help="run the local ClinikAPI gateway sandbox"))
    from clinikfhir._demo import add_arguments as add_demo_arguments

    add_demo_arguments(commands.add_parser("demo", help="a guided tour on an embedded sandbox"))

    args = parser.parse_args(argv)
    run: int = args.run(args)
    return run


if __name__ == "__main__":
    sys.exit(main())
