"""Escalation tick cost with 10,000 open incidents (``python -m bench.escalation_tick``); goal: under 100 ms.

One tick of the escalation loop is: load the open incidents from the store, turn them into the engine's views,
``plan`` (pure), then write the due pages to the outbox. Measured against the example roster and policies
(``rosters/``) with ``--incidents`` open incidents in a SQLite store (WAL, fsync per commit):

- load: ``store.list(status=open|acknowledged)`` + ``IncidentView`` construction;
- plan, steady: every incident already escalated as far as it should be 5 s ago (a tick 5 s after the previous
  one): severities 2 % P1, 18 % P2, 40 % P3, 40 % P4, opened over the last 8 hours, a quarter acknowledged;
- plan, storm: the same number of incidents all reaching level 1 in this tick (the worst case);
- enqueue: the steady tick's pages written to the outbox (``alerting.notify.pages``), and the per-page cost.

Each figure is the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerting.escalation import IncidentView, Page, apply, plan, plan_one, state_from_json
from alerting.escalation_config import load_escalation_config
from alerting.model import Alert, Category, Incident, Severity, Source, Status, fingerprint_for
from alerting.notify.pages import enqueue, requests_from_actions
from alerting.rosters import load_roster
from alerting.store import IncidentStore, open_store

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2027, 2, 10, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai, during the 2027 Spring Festival holiday
SEVERITIES = [(Severity.CRITICAL, 2), (Severity.MAJOR, 18), (Severity.MINOR, 40), (Severity.WARNING, 40)]
CATEGORIES = list(Category)
ROLES = ["database", "app", "web", "storage", "switch"]
SYSTEMS = ["HIS", "LIS", "PACS", "EMR", "OA"]


def view(incident: Incident) -> IncidentView:
    return IncidentView(
        id=incident.id,
        severity=incident.severity.priority,  # type: ignore[arg-type]
        category=incident.category.value,
        opened_at=incident.opened_at,
        labels=incident.labels,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at,
        escalation=state_from_json(incident.escalation_state),
    )


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, result


async def atimed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, result


async def populate(store: IncidentStore, n: int, rng: random.Random) -> list[Incident]:
    out = []
    weights = [w for _, w in SEVERITIES]
    for i in range(n):
        severity = rng.choices([s for s, _ in SEVERITIES], weights)[0]
        labels = {"host": f"host-{i:05d}", "role": rng.choice(ROLES), "system": rng.choice(SYSTEMS)}
        opened = NOW - timedelta(seconds=rng.randint(60, 8 * 3600))
        alert = Alert(
            fingerprint=fingerprint_for("bench", labels),
            rule="bench",
            title=f"{labels['system']} {labels['host']} down",
            severity=severity,
            category=rng.choice(CATEGORIES),
            source=Source.RULE,
            starts_at=opened,
            labels=labels,
            assets=(labels["host"],),
        )
        incident, _ = await store.open_or_touch(alert, opened)
        if rng.random() < 0.25:
            incident = await store.acknowledge(
                incident.id, "bench", opened + timedelta(seconds=rng.randint(30, 900))
            )
        out.append(incident)
    return out


def caught_up(v: IncidentView, policies: Any, roster: Any, at: datetime) -> IncidentView:
    """The incident escalated as far as it should be at ``at`` (the previous tick)."""
    for _ in range(20):
        actions = plan_one(v, policies, roster, at)
        if not actions:
            break
        v = apply(v, actions)
    return v


async def main_async(args: argparse.Namespace) -> int:
    rng = random.Random(20270210)
    roster = load_roster(REPO / "rosters")
    policies = load_escalation_config(REPO / "rosters" / "escalation.yaml", roster.config)
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(Path(tmp) / "bench.db")
        try:
            t = time.perf_counter()
            incidents = await populate(store, args.incidents, rng)
            print(
                f"setup: {len(incidents)} incidents in SQLite in {time.perf_counter() - t:.1f} s", flush=True
            )

            async def load() -> list[Incident]:
                return await store.list(status=[Status.OPEN, Status.ACKNOWLEDGED], limit=args.incidents + 1)

            list_ms, rows = await atimed(load, args.runs)
            views_ms, views = timed(lambda: [view(r) for r in rows], args.runs)
            load_ms = list_ms + views_ms
            assert len(views) == args.incidents, len(views)
            previous = NOW - timedelta(seconds=5)
            steady_views = [caught_up(v, policies, roster, previous) for v in views]
            steady_ms, steady_actions = timed(lambda: plan(steady_views, policies, roster, NOW), args.runs)
            storm_views = [
                replace(
                    v,
                    opened_at=NOW - timedelta(seconds=1),
                    acknowledged_at=None,
                    escalation=state_from_json({}),
                )
                for v in views
            ]
            storm_ms, storm_actions = timed(lambda: plan(storm_views, policies, roster, NOW), args.runs)

            by_id = {i.id: i for i in incidents}
            pages = [a for a in steady_actions if isinstance(a, Page)]
            requests = requests_from_actions(steady_actions, by_id)
            t = time.perf_counter()
            await enqueue(store, requests, now=NOW)
            enqueue_ms = (time.perf_counter() - t) * 1000
            sample = requests_from_actions([a for a in storm_actions if isinstance(a, Page)][:300], by_id)
            t = time.perf_counter()
            await enqueue(store, sample, now=NOW)
            per_page_ms = (time.perf_counter() - t) * 1000 / max(1, len(sample))
        finally:
            await store.close()

    storm_pages = sum(isinstance(a, Page) for a in storm_actions)
    tick_ms = load_ms + steady_ms + enqueue_ms
    print(f"incidents: {args.incidents}, runs: {args.runs} (medians)")
    print(f"load: store.list():         {list_ms:8.1f} ms")
    print(f"load: IncidentView build:   {views_ms:8.1f} ms")
    print(
        f"plan, steady tick:          {steady_ms:8.1f} ms  ({len(steady_actions)} actions, {len(pages)} pages)"
    )
    print(f"enqueue the steady pages:   {enqueue_ms:8.1f} ms  ({len(requests)} outbox rows)")
    print(f"tick, steady (sum):         {tick_ms:8.1f} ms  (goal < 100 ms)")
    print(
        f"plan, storm (all level 1):  {storm_ms:8.1f} ms  ({len(storm_actions)} actions, {storm_pages} pages)"
    )
    print(f"enqueue, per page:          {per_page_ms:8.2f} ms  (SQLite, one commit each)")
    return 0 if tick_ms < 100 else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.escalation_tick")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
