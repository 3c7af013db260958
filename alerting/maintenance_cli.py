"""``wardwatch maintenance add|list|end``: maintenance windows (alerts inside are recorded, page nobody)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from alerting.clock import SystemClock
from alerting.incidents_cli import add_store_options, default_actor, run_with_store
from alerting.model import MaintenanceWindow, Matcher
from alerting.rule_config import parse_duration
from alerting.store import IncidentStore

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


def parse_matcher(text: str) -> Matcher:
    """``host=his-db-01``, ``system!=PACS``, ``host=~his-.*``, ``room!~B1-.*``."""
    m = _MATCHER.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad matcher {text!r}: expected label=value, !=, =~ or !~")
    try:
        return Matcher(m.group(1), m.group(2), m.group(3).strip('"'))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_time(text: str) -> datetime:
    if text == "now":
        return SystemClock().now()
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad time {text!r}: use now or ISO 8601") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mw = sub.add_parser("maintenance", help="maintenance windows")
    mw_sub = mw.add_subparsers(dest="maintenance_command", metavar="SUBCOMMAND")

    add = mw_sub.add_parser("add", help="add a maintenance window")
    add.add_argument(
        "--match",
        dest="matchers",
        action="append",
        type=parse_matcher,
        required=True,
        metavar="LABEL=VALUE",
        help="repeatable; all must match (=, !=, =~, !~)",
    )
    add.add_argument("--start", type=parse_time, default=None, help="ISO 8601 or now (default)")
    end = add.add_mutually_exclusive_group(required=True)
    end.add_argument("--end", type=parse_time)
    end.add_argument("--duration", help="e.g. 2h, 30m")
    add.add_argument("--reason", required=True)
    add.add_argument("--by", default=None)
    add_store_options(add)
    add.set_defaults(handler=cmd_add)

    ls = mw_sub.add_parser("list", help="maintenance windows")
    ls.add_argument("--active", action="store_true", help="only those active now")
    add_store_options(ls)
    ls.set_defaults(handler=cmd_list)

    stop = mw_sub.add_parser("end", help="end a maintenance window now")
    stop.add_argument("id")
    stop.add_argument("--by", default=None)
    add_store_options(stop)
    stop.set_defaults(handler=cmd_end)


def _line(w: MaintenanceWindow) -> str:
    matchers = ",".join(f"{m.name}{m.op}{m.value}" for m in w.matchers)
    ended = f" (ended {w.ended_at:%Y-%m-%d %H:%M} by {w.ended_by})" if w.ended_at else ""
    return (
        f"{w.id}  {w.starts_at:%Y-%m-%d %H:%M} -> {w.ends_at:%Y-%m-%d %H:%M}  {{{matchers}}}  "
        f"{w.author}: {w.reason}{ended}"
    )


def cmd_add(args: argparse.Namespace) -> int:
    now = SystemClock().now()
    start = args.start or now
    end = args.end if args.end is not None else start + timedelta(seconds=parse_duration(args.duration))

    async def work(store: IncidentStore) -> int:
        w = await store.add_maintenance(
            matchers=args.matchers,
            starts_at=start,
            ends_at=end,
            author=args.by or default_actor(),
            reason=args.reason,
            now=now,
        )
        print(_line(w))
        return 0

    return run_with_store(args, work)


def cmd_list(args: argparse.Namespace) -> int:
    async def work(store: IncidentStore) -> int:
        active = SystemClock().now() if args.active else None
        for w in await store.list_maintenance(active_at=active):
            print(_line(w))
        return 0

    return run_with_store(args, work)


def cmd_end(args: argparse.Namespace) -> int:
    async def work(store: IncidentStore) -> int:
        w = await store.end_maintenance(args.id, args.by or default_actor(), SystemClock().now())
        print(_line(w))
        return 0

    return run_with_store(args, work)
