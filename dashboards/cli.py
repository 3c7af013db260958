"""``wardwatch dashboards build --out DIR``: write the Grafana dashboards' JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from dashboards import COMMITTED_DIR  # not dashboards.build: every `wardwatch` command loads this module


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dash = sub.add_parser("dashboards", help="Grafana dashboards as code")
    dash_sub = dash.add_subparsers(dest="dashboards_command", metavar="SUBCOMMAND")
    build = dash_sub.add_parser("build", help="write every dashboard as JSON (one file per dashboard)")
    build.add_argument(
        "--out", type=Path, default=COMMITTED_DIR, help=f"output folder (default: {COMMITTED_DIR})"
    )
    build.set_defaults(handler=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from dashboards.build import write  # grafanalib is imported only when building

    for path in write(args.out):
        print(path)
    return 0
