"""The ``wardwatch`` command: the collector and the admin commands, as subcommands.

Each command group lives in its own module exposing ``register(subparsers)``; add the module's
dotted name to ``COMMAND_MODULES`` (one line) to make its commands appear.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "collector.commands",
    "alerting.roster_cli",
    "collector.snmp.cli",
    "dashboards.cli",
    "alerting.rules_cli",
    "alerting.incidents_cli",
    "alerting.maintenance_cli",
    "alerting.notify.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wardwatch", description="wardwatch: hospital IT monitoring and 7x24 on-call."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:  # a group without a subcommand
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
