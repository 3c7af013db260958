"""Escalation tick cost with 10,000 open incidents (``python -m bench.escalation_tick``); goal: under 100 ms.

Against the example roster and policies (``rosters/``), ``--incidents`` open incidents at 11:00 on 2027-02-10
(Spring Festival holiday): severities 2 % P1, 18 % P2, 40 % P3, 40 % P4, all five categories, opened over the last
8 hours, a quarter acknowledged. Two parts:

1. The real ``EscalationLoop.tick()`` (``alerting/escalation_loop.py``) on SQLite (WAL, fsync per commit) and on
   PostgreSQL (``--pg-dsn``, default ``WARDWATCH_TEST_PG_DSN`` or the local server; a throwaway schema, dropped):
   - steady: every incident already escalated as far as it should be one second ago (its state saved in the
     store), the loop's cache warm; each run is a tick one second after the previous one: one
     ``escalation_candidates`` query (id -> version), the incidents the loop's due-time index says are due and
     their suppression checks, ``plan`` over those, and the writes of whatever became due in that second.
     Median, p99 and max of ``--runs`` ticks (the goal is every tick: the exit status is 1 if any took 100 ms
     or more), and the full garbage collections that ran during them; the first tick after a restart (``cold``:
     it reads every open incident) is shown for the record, with the steady tick's parts;
   - storm: a fresh store holding ``--incidents`` incidents opened in the last minute and never escalated, all
     reaching level 1 in one tick: the loop reads them all, plans, writes every page to the outbox and every
     state (a commit each). ``--storm-runs`` fresh stores, median.
2. The pure engine (no store), as before: ``plan`` over the same views, steady and storm; ``store.list`` of every
   open incident (what a loop without a cache would read each tick), and the per-page outbox write.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from alerting.clock import FakeClock
from alerting.escalation import IncidentView, Page, apply, plan, plan_one, state_from_json, state_to_json
from alerting.escalation_loop import EscalationLoop, TickResult, view_of
from alerting.model import (
    Alert,
    Category,
    Incident,
    SaveEscalationState,
    Severity,
    Source,
    Status,
    fingerprint_for,
)
from alerting.notify.pages import enqueue, requests_from_actions
from alerting.oncall_source import OnCallSource
from alerting.store import IncidentStore, open_store

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2027, 2, 10, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai, during the 2027 Spring Festival holiday
SEVERITIES = [(Severity.CRITICAL, 2), (Severity.MAJOR, 18), (Severity.MINOR, 40), (Severity.WARNING, 40)]
CATEGORIES = list(Category)
ROLES = ["database", "app", "web", "storage", "switch"]
SYSTEMS = ["HIS", "LIS", "PACS", "EMR", "OA"]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def ms(seconds: float) -> float:
    return seconds * 1000


def p99(samples: list[float]) -> float:
    """The 99th percentile, nearest rank: of 100 samples the second largest, of 20 or fewer the largest."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return ms(statistics.median(times)), result


async def atimed(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - t)
    return ms(statistics.median(times)), result


async def populate(
    store: IncidentStore, n: int, rng: random.Random, *, max_age: float, acknowledged: float
) -> list[Incident]:
    """``n`` open incidents opened up to ``max_age`` seconds before NOW, a share ``acknowledged``."""
    out = []
    weights = [w for _, w in SEVERITIES]
    deadline = time.monotonic() + 600
    for i in range(n):
        if time.monotonic() > deadline:
            raise SystemExit(f"populating the store took over 10 minutes ({i} of {n} incidents)")
        severity = rng.choices([s for s, _ in SEVERITIES], weights)[0]
        labels = {"host": f"host-{i:05d}", "role": rng.choice(ROLES), "system": rng.choice(SYSTEMS)}
        opened = NOW - timedelta(seconds=rng.uniform(1, max_age))
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
        if rng.random() < acknowledged:
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


class Target:
    """One store for one engine: a SQLite file in a temporary folder, or a throwaway PostgreSQL schema."""

    def __init__(self, engine: str, tmp: Path, pg_dsn: str) -> None:
        self.engine, self.tmp, self.pg_dsn = engine, tmp, pg_dsn
        self.schemas: list[str] = []

    async def fresh(self) -> IncidentStore:
        if self.engine == "sqlite":
            return await open_store(self.tmp / f"bench-{uuid.uuid4().hex[:8]}.db")
        schema = f"bench_tick_{uuid.uuid4().hex[:8]}"
        self.schemas.append(schema)
        return await open_store(self.pg_dsn, schema=schema)

    async def drop(self) -> None:
        if not self.schemas:
            return
        conn = await asyncpg.connect(self.pg_dsn)
        try:
            for schema in self.schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
        self.schemas.clear()


GC_FREEZE_AFTER: int | None = 1000  # the loop's default; --no-gc-freeze: None


def new_loop(
    store: IncidentStore, oncall: OnCallSource, at: datetime, on_enqueued: Callable[[], None] | None = None
) -> EscalationLoop:
    return EscalationLoop(
        store,
        oncall,
        clock=FakeClock(at),
        registry=CollectorRegistry(),
        on_enqueued=on_enqueued,
        gc_freeze_after=GC_FREEZE_AFTER,
    )


async def loop_figures(target: Target, args: argparse.Namespace, oncall: OnCallSource) -> dict[str, Any]:
    """The real tick, steady and storm, on one engine."""
    roster, policies = oncall.current.roster, oncall.current.policies
    assert policies is not None
    rng = random.Random(20270210)
    out: dict[str, Any] = {}
    store = await target.fresh()
    try:
        t = time.perf_counter()
        incidents = await populate(store, args.incidents, rng, max_age=8 * 3600, acknowledged=0.25)
        previous = NOW - timedelta(seconds=1)
        for inc in incidents:  # escalated as far as they should be one second ago, as the loop would have
            view = view_of(inc)
            state = caught_up(view, policies, roster, previous).escalation
            if state != view.escalation:
                await store.apply(
                    inc.id, inc.version, [SaveEscalationState(state_to_json(state))], now=previous
                )
        print(
            f"  {target.engine}: {len(incidents)} open incidents, escalated up to {previous:%H:%M:%S}, "
            f"in {time.perf_counter() - t:.0f} s",
            flush=True,
        )
        loop = new_loop(store, oncall, previous)
        t = time.perf_counter()
        cold: TickResult = await loop.tick(previous)
        out["cold_ms"] = ms(time.perf_counter() - t)
        assert cold.candidates == args.incidents and cold.pages == 0, cold
        steady_times: list[float] = []
        results: list[TickResult] = []
        gc_pauses: list[float] = []  # the collector's full (generation 2) passes during the steady ticks
        gc_started = 0.0

        def on_gc(phase: str, info: dict[str, int]) -> None:
            nonlocal gc_started
            if info["generation"] == 2:
                if phase == "start":
                    gc_started = time.perf_counter()
                else:
                    gc_pauses.append(time.perf_counter() - gc_started)

        gc.callbacks.append(on_gc)
        try:
            for k in range(1, args.runs + 1):
                t = time.perf_counter()
                results.append(await loop.tick(previous + timedelta(seconds=k)))
                steady_times.append(time.perf_counter() - t)
        finally:
            gc.callbacks.remove(on_gc)
        out["gc_pauses"] = gc_pauses
        out["steady_ms"] = ms(statistics.median(steady_times))
        out["steady_p99_ms"] = ms(p99(steady_times))
        out["steady_max_ms"] = ms(max(steady_times))
        out["steady_min_max"] = (ms(min(steady_times)), ms(max(steady_times)))
        out["steady_pages"] = sum(r.pages for r in results)
        slowest = max(range(len(steady_times)), key=steady_times.__getitem__)
        out["slowest_pages"] = results[slowest].pages
        out["steady_planned"] = results[-1].planned
        at = previous + timedelta(seconds=args.runs)
        out["candidates_ms"], _ = await atimed(
            lambda: store.escalation_candidates(resolved_since=at - loop.resolved_grace), args.runs
        )
        out["pageable_ms"], views = await atimed(lambda: loop._pageable(at, loop._take_due(at)), args.runs)
        out["plan_ms"], _ = timed(lambda: plan(views, policies, roster, at), args.runs)
    finally:
        await store.close()

    storm_times, storm_results, first_wakes = [], [], []
    for run in range(args.storm_runs):
        store = await target.fresh()
        try:
            await populate(store, args.incidents, rng, max_age=60, acknowledged=0)
            wakes: list[float] = []  # when the loop woke the outbox worker (the first pages can go out)
            loop = new_loop(store, oncall, NOW, on_enqueued=lambda w=wakes: w.append(time.perf_counter()))
            t = time.perf_counter()
            storm_results.append(await loop.tick(NOW))
            storm_times.append(time.perf_counter() - t)
            first_wakes.append(wakes[0] - t if wakes else float("nan"))
            r = storm_results[-1]
            print(
                f"  {target.engine}: storm {run + 1}: {ms(storm_times[-1]):.0f} ms, {r.escalated} escalated, "
                f"{r.pages} outbox rows, outbox worker first woken after {ms(first_wakes[-1]):.0f} ms",
                flush=True,
            )
            assert r.escalated == args.incidents, r
        finally:
            await store.close()
            await target.drop()
    out["storm_ms"] = ms(statistics.median(storm_times)) if storm_times else float("nan")
    out["storm_pages"] = storm_results[-1].pages if storm_results else 0
    out["storm_first_wake_ms"] = ms(statistics.median(first_wakes)) if first_wakes else float("nan")
    return out


async def pure_figures(args: argparse.Namespace, oncall: OnCallSource, tmp: Path) -> dict[str, Any]:
    """The engine alone (no store) over the same incidents, and what an uncached load would cost."""
    roster, policies = oncall.current.roster, oncall.current.policies
    rng = random.Random(20270210)
    out: dict[str, Any] = {}
    store = await open_store(tmp / "pure.db")
    try:
        incidents = await populate(store, args.incidents, rng, max_age=8 * 3600, acknowledged=0.25)

        async def load() -> list[Incident]:
            return await store.list(status=[Status.OPEN, Status.ACKNOWLEDGED], limit=args.incidents + 1)

        out["list_ms"], rows = await atimed(load, args.runs)
        out["views_ms"], views = timed(lambda: [view_of(r) for r in rows], args.runs)
        assert len(views) == args.incidents, len(views)
        previous = NOW - timedelta(seconds=1)
        steady_views = [caught_up(v, policies, roster, previous) for v in views]
        out["plan_steady_ms"], steady_actions = timed(
            lambda: plan(steady_views, policies, roster, NOW), args.runs
        )
        storm_views = [
            replace(
                v, opened_at=NOW - timedelta(seconds=1), acknowledged_at=None, escalation=state_from_json({})
            )
            for v in views
        ]
        out["plan_storm_ms"], storm_actions = timed(
            lambda: plan(storm_views, policies, roster, NOW), args.runs
        )
        out["plan_steady_actions"] = len(steady_actions)
        out["plan_storm_actions"] = len(storm_actions)
        out["plan_storm_pages"] = sum(isinstance(a, Page) for a in storm_actions)
        by_id = {i.id: i for i in incidents}
        sample = requests_from_actions([a for a in storm_actions if isinstance(a, Page)][:300], by_id)
        t = time.perf_counter()
        await enqueue(store, sample, now=NOW)
        out["per_page_ms"] = ms(time.perf_counter() - t) / max(1, len(sample))
    finally:
        await store.close()
    return out


async def main_async(args: argparse.Namespace) -> int:
    oncall = OnCallSource(REPO / "rosters")
    engines = ["sqlite"] + ([] if args.no_pg else ["postgresql"])
    figures: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for engine in engines:
            target = Target(engine, tmp, args.pg_dsn)
            try:
                figures[engine] = await loop_figures(target, args, oncall)
            finally:
                await target.drop()
        pure = await pure_figures(args, oncall, tmp)

    n = args.incidents
    print(f"\nincidents: {n}, steady ticks: {args.runs} (median), storm ticks: {args.storm_runs} (median)")
    print(f"total time {time.perf_counter() - started:.0f} s")
    print("\nEscalationLoop.tick()                          " + "".join(f"{e:>14}" for e in figures))
    rows = [
        ("steady tick (1 s after the last), median", "steady_ms", "{:.1f} ms"),
        ("steady tick, p99", "steady_p99_ms", "{:.1f} ms"),
        ("steady tick, max", "steady_max_ms", "{:.1f} ms"),
        ("  of which escalation_candidates query", "candidates_ms", "{:.1f} ms"),
        ("  of which due incidents (suppression checks)", "pageable_ms", "{:.1f} ms"),
        ("  of which plan", "plan_ms", "{:.1f} ms"),
        ("first tick after a restart (reads all)", "cold_ms", "{:.0f} ms"),
        ("storm tick (all reach level 1), median", "storm_ms", "{:.0f} ms"),
        ("  outbox rows written in the storm tick", "storm_pages", "{}"),
        ("  outbox worker first woken after", "storm_first_wake_ms", "{:.0f} ms"),
    ]
    for label, key, fmt in rows:
        print(f"{label:<47}" + "".join(f"{fmt.format(figures[e][key]):>14}" for e in figures))
    for e, f in figures.items():
        lo, hi = f["steady_min_max"]
        pauses = f["gc_pauses"]
        print(
            f"  {e}: {len(pauses)} full garbage collections during the steady ticks"
            + (f", {ms(max(pauses)):.0f} ms the longest" if pauses else "")
        )
        print(
            f"  {e}: steady min {lo:.1f} / max {hi:.1f} ms (that tick wrote {f['slowest_pages']} pages); "
            f"{f['steady_planned']} incidents planned per tick, "
            f"{f['steady_pages']} pages in {args.runs} ticks"
        )
    print("\npure engine and uncached load (SQLite)")
    print(
        f"  store.list() of every open incident:   {pure['list_ms']:8.1f} ms (+ views {pure['views_ms']:.1f} ms)"
    )
    print(
        f"  plan, steady:                          {pure['plan_steady_ms']:8.1f} ms ({pure['plan_steady_actions']} actions)"
    )
    print(
        f"  plan, storm:                           {pure['plan_storm_ms']:8.1f} ms ({pure['plan_storm_actions']} "
        f"actions, {pure['plan_storm_pages']} pages)"
    )
    print(f"  one page to the outbox:                {pure['per_page_ms']:8.2f} ms")
    worst = max(f["steady_ms"] for f in figures.values())
    worst_p99 = max(f["steady_p99_ms"] for f in figures.values())
    worst_max = max(f["steady_max_ms"] for f in figures.values())
    print(
        f"\nsteady tick, worst engine: median {worst:.1f} ms, p99 {worst_p99:.1f} ms, max {worst_max:.1f} ms "
        "(goal: every tick < 100 ms)"
    )
    return 0 if worst_max < 100 else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.escalation_tick")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="steady ticks (median)")
    parser.add_argument(
        "--storm-runs", type=int, default=1, help="storm ticks, each on a fresh store (median)"
    )
    parser.add_argument("--pg-dsn", default=os.environ.get("WARDWATCH_TEST_PG_DSN") or DEFAULT_PG)
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="the loop never calls gc.freeze() (to see what freezing its cache saves)",
    )
    args = parser.parse_args()
    if args.no_gc_freeze:
        global GC_FREEZE_AFTER
        GC_FREEZE_AFTER = None
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
