"""Run every benchmark module in bench/ in turn (``make bench``); ``--only NAME`` picks some."""

from __future__ import annotations

import argparse
import pkgutil
import runpy
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", action="append", default=[], help="module name, e.g. ingest (repeatable)")
    args = parser.parse_args()
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    if args.only:
        names = [n for n in names if n in args.only]
    failed = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        try:
            sys.argv = [f"bench.{name}"]
            runpy.run_module(f"bench.{name}", run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (0, None):
                failed.append(name)
        except Exception as exc:  # a broken benchmark must not hide the others' figures
            print(f"bench.{name} failed: {exc!r}")
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
