"""``wardwatch incidents list|show|ack|resolve|comment``: the duty engineer's view of the incident store.

The commands talk to the store directly (the same SQLite file or PostgreSQL database the collector uses:
``--store``, else the collector settings' ``alerting.store``, else ``wardwatch.db`` in the data directory).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from alerting.clock import SystemClock
from alerting.model import Incident, Status, TimelineEntry
from alerting.store import IncidentStore, NotFound, StoreError, open_store
from alerting.store.errors import InvalidTransition


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="collector YAML settings (for alerting.store / data_dir)")
    parser.add_argument("--store", help="PostgreSQL DSN or SQLite file (overrides the settings)")
    parser.add_argument("--schema", help="PostgreSQL schema (default: the settings' alerting.store_schema)")


def store_location(args: argparse.Namespace) -> tuple[str, str | None]:
    """(DSN or SQLite path, PostgreSQL schema or None)."""
    from collector.settings import CollectorSettings

    settings = CollectorSettings.load(args.config) if args.config or not args.store else None
    if args.store:
        location = str(args.store)
    elif settings is not None and settings.alerting.store is not None:
        location = settings.alerting.store.get_secret_value()
    else:
        assert settings is not None
        location = str(settings.data_dir / "wardwatch.db")
    if not location.startswith(("postgresql://", "postgres://")):
        return location, None
    return location, args.schema or (settings.alerting.store_schema if settings else "public")


def run_with_store(args: argparse.Namespace, work: Callable[[IncidentStore], Awaitable[int]]) -> int:
    location, schema = store_location(args)
    if schema is None:  # SQLite: reading commands must not create an empty store at a mistyped path
        path = Path(location.removeprefix("sqlite://"))
        if not (path / "wardwatch.db" if path.is_dir() else path).exists():
            print(f"wardwatch: no incident store at {path}", file=sys.stderr)
            return 1

    async def main() -> int:
        store = await open_store(location, schema=schema)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (NotFound, InvalidTransition, ValueError) as err:
        print(f"wardwatch: {err}", file=sys.stderr)
        return 1
    except StoreError as err:
        print(f"wardwatch: store error: {err}", file=sys.stderr)
        return 2


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    inc = sub.add_parser("incidents", help="list, show, acknowledge, resolve and comment incidents")
    inc_sub = inc.add_subparsers(dest="incidents_command", metavar="SUBCOMMAND")

    ls = inc_sub.add_parser("list", help="incidents, newest first")
    ls.add_argument(
        "--status", choices=["open", "acknowledged", "resolved", "unresolved", "all"], default="unresolved"
    )
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    add_store_options(ls)
    ls.set_defaults(handler=cmd_list)

    show = inc_sub.add_parser("show", help="one incident and its timeline")
    show.add_argument("ref", help="number (INC-2026-000123) or id")
    show.add_argument("--json", action="store_true")
    add_store_options(show)
    show.set_defaults(handler=cmd_show)

    for name, helptext in (("ack", "acknowledge"), ("resolve", "resolve")):
        p = inc_sub.add_parser(name, help=f"{helptext} an incident")
        p.add_argument("ref")
        p.add_argument("--by", default=None, help="who (default: your login name)")
        add_store_options(p)
        p.set_defaults(handler=cmd_ack if name == "ack" else cmd_resolve)

    comment = inc_sub.add_parser("comment", help="add a comment to the timeline")
    comment.add_argument("ref")
    comment.add_argument("text")
    comment.add_argument("--by", default=None)
    add_store_options(comment)
    comment.set_defaults(handler=cmd_comment)


def _line(inc: Incident) -> str:
    flags = " [flapping]" if inc.flapping else ""
    flags += " [attached]" if inc.parent_id else ""
    return (
        f"{inc.number}  {inc.severity.priority} {inc.severity.value:<8} {inc.status.value:<12} "
        f"{inc.category.value:<14} {inc.opened_at:%Y-%m-%d %H:%M}  {inc.title}{flags}"
    )


def incident_dict(inc: Incident) -> dict[str, Any]:
    return {
        "number": inc.number,
        "id": inc.id,
        "title": inc.title,
        "severity": inc.severity.value,
        "priority": inc.severity.priority,
        "category": inc.category.value,
        "status": inc.status.value,
        "source": inc.source.value,
        "rule": inc.rule,
        "labels": inc.labels,
        "assets": list(inc.assets),
        "value": inc.value,
        "opened_at": inc.opened_at.isoformat(),
        "acknowledged_at": inc.acknowledged_at.isoformat() if inc.acknowledged_at else None,
        "acknowledged_by": inc.acknowledged_by,
        "resolved_at": inc.resolved_at.isoformat() if inc.resolved_at else None,
        "resolved_by": inc.resolved_by,
        "parent_id": inc.parent_id,
        "flapping": inc.flapping,
        "plan_url": inc.plan_url,
    }


def _entry_dict(e: TimelineEntry) -> dict[str, Any]:
    return {"at": e.at.isoformat(), "kind": e.kind.value, "actor": e.actor, "details": e.details}


def cmd_list(args: argparse.Namespace) -> int:
    statuses: dict[str, Any] = {
        "open": Status.OPEN,
        "acknowledged": Status.ACKNOWLEDGED,
        "resolved": Status.RESOLVED,
        "unresolved": (Status.OPEN, Status.ACKNOWLEDGED),
        "all": None,
    }

    async def work(store: IncidentStore) -> int:
        for inc in await store.list(status=statuses[args.status], limit=args.limit):
            print(json.dumps(incident_dict(inc), ensure_ascii=False) if args.json else _line(inc))
        return 0

    return run_with_store(args, work)


def cmd_show(args: argparse.Namespace) -> int:
    async def work(store: IncidentStore) -> int:
        inc = await store.get(args.ref)
        timeline = await store.timeline(inc.id)
        if args.json:
            body = {**incident_dict(inc), "timeline": [_entry_dict(e) for e in timeline]}
            print(json.dumps(body, ensure_ascii=False, indent=2))
            return 0
        print(_line(inc))
        for label, value in (
            ("source", f"{inc.source.value} ({inc.rule})"),
            ("assets", ", ".join(inc.assets) or "-"),
            ("labels", ", ".join(f"{k}={v}" for k, v in sorted(inc.labels.items())) or "-"),
            ("plan", inc.plan_url or "-"),
            ("description", inc.description or "-"),
        ):
            print(f"  {label:<12} {value}")
        print("  timeline:")
        for e in timeline:
            details = json.dumps(e.details, ensure_ascii=False) if e.details else ""
            print(f"    {e.at:%Y-%m-%d %H:%M:%S}  {e.kind.value:<16} {e.actor:<12} {details}")
        return 0

    return run_with_store(args, work)


def cmd_ack(args: argparse.Namespace) -> int:
    async def work(store: IncidentStore) -> int:
        inc = await store.get(args.ref)
        inc = await store.acknowledge(inc.id, args.by or default_actor(), SystemClock().now())
        print(_line(inc))
        return 0

    return run_with_store(args, work)


def cmd_resolve(args: argparse.Namespace) -> int:
    async def work(store: IncidentStore) -> int:
        inc = await store.get(args.ref)
        inc = await store.resolve(inc.id, args.by or default_actor(), SystemClock().now())
        print(_line(inc))
        return 0

    return run_with_store(args, work)


def cmd_comment(args: argparse.Namespace) -> int:
    async def work(store: IncidentStore) -> int:
        inc = await store.get(args.ref)
        await store.comment(inc.id, args.by or default_actor(), args.text, SystemClock().now())
        print(f"{inc.number}: comment added")
        return 0

    return run_with_store(args, work)
