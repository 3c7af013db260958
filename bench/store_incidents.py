"""Incident store: incidents opened per second into SQLite and PostgreSQL, median of 3 runs.

    .venv/bin/python -m bench.store_incidents [--count 2000] [--runs 3] [--pg-dsn DSN]

Each run starts from an empty store (a fresh SQLite file; a fresh PostgreSQL schema, dropped afterwards) and
measures three loads, each ``--count`` operations:
- open, 1 writer: one store object, ``open_or_touch`` for distinct fingerprints, one at a time;
- open, 2 stores x 8 tasks: two store objects on the same database (two collectors), 16 concurrent writers;
- touch, 1 writer: ``open_or_touch`` again for fingerprints that are already open (the dedup path).
Every operation is one committed transaction (SQLite: WAL, synchronous=FULL).
PostgreSQL: ``--pg-dsn``, else ``WARDWATCH_TEST_PG_DSN``, else the local server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from alerting.model import Alert, Category, Severity, Source, fingerprint_for
from alerting.store import IncidentStore, open_store
from alerting.store.postgres import redact_dsn

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def make_alerts(count: int) -> list[Alert]:
    alerts = []
    for i in range(count):
        labels = {"host": f"host-{i:05d}", "site": "main", "mountpoint": "/"}
        alerts.append(
            Alert(
                fingerprint=fingerprint_for("filesystem_full", labels),
                rule="filesystem_full",
                title=f"filesystem / full on host-{i:05d}",
                severity=Severity.MAJOR,
                category=Category.SYSTEM_FAILURE,
                source=Source.RULE,
                starts_at=T0,
                labels=labels,
                assets=(labels["host"],),
                value=0.95,
                summary="filesystem / above 90%",
            )
        )
    return alerts


async def sequential(store: IncidentStore, alerts: list[Alert], now: datetime) -> None:
    for a in alerts:
        await store.open_or_touch(a, now)


async def concurrent(stores: list[IncidentStore], alerts: list[Alert], tasks_per_store: int) -> None:
    queue: asyncio.Queue[Alert] = asyncio.Queue()
    for a in alerts:
        queue.put_nowait(a)

    async def worker(store: IncidentStore) -> None:
        while not queue.empty():
            await store.open_or_touch(queue.get_nowait(), T0)

    await asyncio.gather(*(worker(s) for s in stores for _ in range(tasks_per_store)))


async def timed(fn: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def one_run(target: str, schema: str | None, count: int) -> dict[str, float]:
    alerts = make_alerts(count)
    rates: dict[str, float] = {}
    s1 = await open_store(target, schema=schema)
    s2 = await open_store(target, schema=schema)
    try:
        rates["open, 1 writer"] = count / await timed(lambda: sequential(s1, alerts, T0))
        rates["touch, 1 writer"] = count / await timed(
            lambda: sequential(s1, alerts, T0 + timedelta(minutes=1))
        )
        fresh = make_alerts(2 * count)[count:]
        rates["open, 2 stores x 8 tasks"] = count / await timed(lambda: concurrent([s1, s2], fresh, 8))
        opened = len(await s1.list(limit=10 * count))
        if opened != 2 * count:
            raise SystemExit(f"expected {2 * count} incidents, found {opened}")
    finally:
        await s1.close()
        await s2.close()
    return rates


async def run_engine(name: str, count: int, runs: int, pg_dsn: str) -> dict[str, float]:
    results: list[dict[str, float]] = []
    for _ in range(runs):
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="ww-bench-") as tmp:
                results.append(await one_run(str(Path(tmp) / "wardwatch.db"), None, count))
        else:
            schema = f"ww_bench_{uuid.uuid4().hex[:12]}"
            try:
                results.append(await one_run(pg_dsn, schema, count))
            finally:
                admin = await asyncpg.connect(pg_dsn)
                await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                await admin.close()
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


async def main_async(args: argparse.Namespace) -> None:
    print(f"incident store: {args.count} operations per load, median of {args.runs} runs")
    print(f"PostgreSQL: {redact_dsn(args.pg_dsn)}")
    for engine in ("sqlite", "postgres"):
        rates = await run_engine(engine, args.count, args.runs, args.pg_dsn)
        for load, rate in rates.items():
            print(f"  {engine:9s} {load:26s} {rate:9.0f} /s")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_incidents")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("WARDWATCH_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
