"""``wardwatch rules check DIR|FILE...`` and ``wardwatch rules test FILE...``.

``check`` validates rule files and prints every problem as ``file:line: field: message`` (exit 1);
``test`` runs rule unit tests (``alerting.rule_tests``) and prints each test's result (exit 1 on a failure).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alerting.rule_config import load_rules, rule_files
from alerting.rule_tests import load_test_file, run_test
from alerting.yaml_lines import ConfigError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = sub.add_parser("rules", help="check and test alerting rules")
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="SUBCOMMAND")
    check = rules_sub.add_parser("check", help="validate rule files (a directory or files)")
    check.add_argument("paths", nargs="+", type=Path, metavar="DIR|FILE")
    check.set_defaults(handler=cmd_check)
    test = rules_sub.add_parser("test", help="run rule unit tests against recorded states")
    test.add_argument("files", nargs="+", type=Path, metavar="FILE")
    test.set_defaults(handler=cmd_test)


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out.extend(rule_files(p) if p.is_dir() else [p])
    return out


def cmd_check(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        for p in missing:
            print(f"{p}: no such file or directory", file=sys.stderr)
        return 1
    files = _expand(args.paths)
    if not files:
        print(f"no rule files (*.yaml) in {', '.join(str(p) for p in args.paths)}", file=sys.stderr)
        return 1
    try:
        rules = load_rules(files)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"{len(err.problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    print(f"{len(rules.rules)} rules in {len(files)} file(s): OK")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    failed = passed = total = 0
    for path in args.files:
        try:
            cfg, rules = load_test_file(path)
        except ConfigError as err:
            for problem in err.problems:
                print(problem, file=sys.stderr)
            failed += 1
            continue
        for test in cfg.tests:
            total += 1
            try:
                result = run_test(test, rules, cfg.evaluation_interval, base=path.parent)
            except ConfigError as err:
                for problem in err.problems:
                    print(problem, file=sys.stderr)
                failed += 1
                continue
            if result.ok:
                passed += 1
                print(f"{path}: {test.name}: ok")
            else:
                failed += 1
                print(f"{path}: {test.name}: FAILED", file=sys.stderr)
                for failure in result.failures:
                    print(f"  {failure}", file=sys.stderr)
    print(f"{passed}/{total} tests passed")
    return 1 if failed else 0
