"""``wardwatch roster who|show|check|ical``: query and check the duty roster."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from alerting.clock import SystemClock
from alerting.escalation_config import load_escalation_config
from alerting.roster_config import roster_file
from alerting.roster_ical import person_ical, team_ical
from alerting.rosters import (
    Roster,
    find_gaps,
    find_idle_swaps,
    find_overlaps,
    layer_duties,
    load_roster,
    local_instant,
    who_is_on_duty,
)
from alerting.yaml_lines import ConfigError

EXIT_PROBLEMS = 1
EXIT_CONFIG = 2
_WEEKDAYS = ("一 Mon", "二 Tue", "三 Wed", "四 Thu", "五 Fri", "六 Sat", "日 Sun")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    roster = subparsers.add_parser("roster", help="query and check the duty roster")
    sub = roster.add_subparsers(dest="roster_command", metavar="SUBCOMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--roster", type=Path, help="roster file or folder (default: the settings' rosters.path, ./rosters)"
    )
    common.add_argument(
        "--config", type=Path, help="collector YAML settings to take rosters.path from (env WARDWATCH_* wins)"
    )

    who = sub.add_parser("who", parents=[common], help="who is on duty now (or at --at)")
    who.add_argument("--at", help="a time, ISO 8601; without an offset, in the roster's timezone")
    who.add_argument("--team", help="only this team")
    who.set_defaults(handler=_guard(cmd_who))

    show = sub.add_parser("show", parents=[common], help="the roster as a table")
    show.add_argument("--week", action="store_true", help="seven days (the default)")
    show.add_argument("--from", dest="start", help="first day, YYYY-MM-DD (default: today)")
    show.set_defaults(handler=_guard(cmd_show))

    check = sub.add_parser("check", parents=[common], help="find gaps and overlaps; exit 1 if any")
    check.add_argument("--days", type=int, default=28, help="how many days ahead to check (default 28)")
    check.add_argument("--from", dest="start", help="start time, ISO 8601 (default: now)")
    check.set_defaults(handler=_guard(cmd_check))

    ical = sub.add_parser("ical", parents=[common], help="iCalendar of a person's or a team's duties")
    who_or_team = ical.add_mutually_exclusive_group(required=True)
    who_or_team.add_argument("--person")
    who_or_team.add_argument("--team")
    ical.add_argument("--days", type=int, default=60)
    ical.add_argument("--from", dest="start", help="start time, ISO 8601 (default: now)")
    ical.add_argument("--output", type=Path, help="write to this file instead of stdout")
    ical.set_defaults(handler=_guard(cmd_ical))


def _locate(args: argparse.Namespace) -> bool:
    """Fill in ``args.roster`` and ``args.policies``: ``--roster`` (policies beside it), else the collector
    settings' ``rosters`` section (``--config``, ``WARDWATCH_ROSTERS__PATH``), whose default is ./rosters."""
    from agent.settings_file import ConfigError as SettingsError
    from collector.settings import CollectorSettings

    args.policies = None
    if args.roster is not None:
        return True
    try:
        rosters = CollectorSettings.load(args.config).rosters
    except SettingsError as err:
        print(f"wardwatch: bad configuration:\n{err}", file=sys.stderr)
        return False
    args.roster, args.policies = rosters.path, rosters.escalation_file
    return True


def _load(args: argparse.Namespace) -> Roster | None:
    if not _locate(args):
        return None
    try:
        return load_roster(args.roster)
    except ConfigError as err:
        for p in err.problems:
            print(p, file=sys.stderr)
        return None


class _BadTime(ValueError):
    pass


def _time(roster: Roster, text: str | None) -> datetime:
    if text is None:
        return SystemClock().now()
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise _BadTime(f"not an ISO 8601 time: {text!r} (e.g. 2027-02-06T03:00)") from None
    return t.replace(tzinfo=roster.tz) if t.tzinfo is None else t


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad --at/--from values end the command with a message and exit code 2, not a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except _BadTime as err:
            print(err, file=sys.stderr)
            return EXIT_CONFIG

    return run


def _hm(roster: Roster, t: datetime) -> str:
    return t.astimezone(roster.tz).strftime("%m-%d %H:%M")


def _local(roster: Roster, t: datetime) -> str:
    return t.astimezone(roster.tz).strftime("%Y-%m-%d %H:%M")


def cmd_who(args: argparse.Namespace) -> int:
    roster = _load(args)
    if roster is None:
        return EXIT_CONFIG
    if args.team and args.team not in roster.teams:
        print(f"no team {args.team!r}; teams: {', '.join(roster.teams)}", file=sys.stderr)
        return EXIT_CONFIG
    board = who_is_on_duty(roster, _time(roster, args.at))
    print(f"On duty at {_local(roster, board.at)} ({roster.config.timezone})")
    for (team, layer), people in board.layers.items():
        if args.team and team != args.team:
            continue
        names = ", ".join(f"{p.name} ({p.id})" for p in people) or "— nobody —"
        print(f"  {roster.teams[team].name} {team}/{layer}: {names}")
    if not args.team:
        for position, people in board.positions.items():
            pos = roster.config.positions[position]  # type: ignore[index]
            names = ", ".join(p.name for p in people) or "— nobody —"
            print(f"  {pos.name or position} [{position}]: {names}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    roster = _load(args)
    if roster is None:
        return EXIT_CONFIG
    try:
        first = (
            date.fromisoformat(args.start) if args.start else SystemClock().now().astimezone(roster.tz).date()
        )
    except ValueError:
        raise _BadTime(f"not a date: {args.start!r} (e.g. 2027-02-06)") from None
    days = [first + timedelta(days=i) for i in range(7)]
    for team in roster.config.teams:
        print(f"{team.name} ({team.id})")
        header = ["date", *team.layers]
        rows = [header]
        for day in days:
            start = datetime.combine(day, datetime.min.time(), tzinfo=roster.tz)
            end = start + timedelta(days=1)
            cells = [f"{day:%m-%d} {_WEEKDAYS[day.weekday()]} {roster.calendar.kind(day)}"]
            for name in team.layers:
                duties = [d for d in layer_duties(roster, team.id, name, start, end) if d.start >= start]
                cells.append(
                    "  ".join(
                        f"{d.start.astimezone(roster.tz):%H:%M}→{d.end.astimezone(roster.tz):%H:%M} "
                        f"{roster.people[d.person].name}{'*' if d.via != 'rotation' else ''}"
                        for d in duties
                    )
                    or "—"
                )
            rows.append(cells)
        widths = [max(_width(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            print("  " + " | ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)))
        print()
    print("→ start→end of each shift that begins that day; * = swap or override")
    return 0


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def cmd_check(args: argparse.Namespace) -> int:
    roster = _load(args)
    if roster is None:
        return EXIT_CONFIG
    start = _time(roster, args.start)
    end = start + timedelta(days=args.days)
    gaps = find_gaps(roster, start, end)
    overlaps = find_overlaps(roster, start, end)
    for g in gaps:
        print(
            f"GAP {g.team}/{g.layer}: nobody on duty from {_local(roster, g.start)} "
            f"to {_local(roster, g.end)} ({g.minutes} min)"
        )
    for o in overlaps:
        name = roster.people[o.person].name
        print(
            f"OVERLAP {o.person} ({name}): {o.first.rotation or o.first.via} and "
            f"{o.second.rotation or o.second.via} both from {_local(roster, o.start)} to {_local(roster, o.end)}"
        )
    idle = find_idle_swaps(roster, start, end)
    for i in idle:
        s = roster.config.swaps[i]
        print(
            f"SWAP swaps[{i}]: {s.for_} has no shift between {_local(roster, local_instant(roster, s.start))} "
            f"and {_local(roster, local_instant(roster, s.end))}, so {s.who} takes over nothing"
        )
    span = f"{_local(roster, start)} to {_local(roster, end)} ({roster.config.timezone})"
    policies = args.policies or roster_file(args.roster).parent / "escalation.yaml"
    if policies.exists():
        try:
            cfg = load_escalation_config(policies, roster.config)
        except ConfigError as err:
            for p in err.problems:
                print(p, file=sys.stderr)
            return EXIT_CONFIG
        print(f"OK: {policies}: {len(cfg.policies)} policies, every target is in the roster")
    if gaps or overlaps or idle:
        print(
            f"FAILED: {len(gaps)} gap(s), {len(overlaps)} overlap(s), {len(idle)} idle swap(s) between {span}"
        )
        return EXIT_PROBLEMS
    print(f"OK: no gaps and no overlaps between {span}")
    return 0


def cmd_ical(args: argparse.Namespace) -> int:
    roster = _load(args)
    if roster is None:
        return EXIT_CONFIG
    now = SystemClock().now()
    start = _time(roster, args.start)
    end = start + timedelta(days=args.days)
    try:
        if args.person:
            data = person_ical(roster, args.person, start=start, end=end, now=now)
        else:
            data = team_ical(roster, args.team, start=start, end=end, now=now)
    except KeyError as err:
        print(err.args[0], file=sys.stderr)
        return EXIT_CONFIG
    if args.output:
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
