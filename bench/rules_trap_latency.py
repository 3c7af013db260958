"""Trap-to-incident latency (``python -m bench.rules_trap_latency``): a linkDown datagram on the collector's trap
port -> trap receiver -> event bus -> rule runner (the shipped LinkDownTrap rule) -> incident committed in the
store; then linkUp -> resolved. Two cases, each on SQLite and on PostgreSQL (``--pg-dsn``, default
``WARDWATCH_TEST_PG_DSN`` or the local server; a throwaway schema, dropped afterwards; ``--no-pg`` to skip):

- idle: one device and two rules (LinkDownTrap and InterfaceDown), ``--trials`` pairs;
- loaded (``--hosts 1000 --rules 200``; ``--hosts 0`` skips it): the collector's state also holds ``--hosts``
  agents (``bench._rules_estate``, the estate of ``bench.rules_eval``: ~120 series each, 20 snapshots of
  window) and the rules directory holds the same ``--rules`` rules (the shipped set plus generated ones). While
  it runs, each agent reports every 15 s (written into the state, as ingest does: the runner evaluates each report
  at once) and the runner does its full pass every ``evaluation_interval_seconds`` (5 s, the default), as in
  production. Before the collector starts, the store gets the incidents the estate's firing alerts have (954 to
  1,008 at 1,000 hosts, by run), acknowledged, so the runner starts in steady state through its restart path
  (``recover``) instead of opening them all in the middle of the measurement, and escalation has nothing to page
  for them. ``--traps`` pairs.

In both, the pairs go one at a time, each after a random pause of up to ``--gap`` seconds (so they fall at random
phases of the 5 s cycle and a share of them lands during a full pass, and no pair queues behind the follow-up work
of the one before), for at most ``--max-seconds``. A trap counts as "during a full pass" when it was sent while one
was running (the runner's ``run_once`` is wrapped to record when each full pass starts and ends).

The collector is the whole app on the default settings (escalation with the example roster in ``rosters/``,
whose pages fail for want of channels), flapping detection off (one interface going down and up again and again
is flapping: the incident would rightly stay open).

The datagrams are recorded once from net-snmp's ``snmptrap`` (so they are real v2c traps) and replayed with a
plain UDP socket, so process start-up of ``snmptrap`` is not in the figures. The time is taken from just before
``sendto`` to when the runner's store call that commits the incident returns (``open_or_touch``; for linkUp
``resolve_by_fingerprint``; the store object is wrapped to note it), so a slow reader does not add to it; at the
end every trap incident is read back (opened once, resolved). A linkDown the runner evaluated without opening an
incident (its alert held pending: ``Run.lost``) is counted as lost, not timed.
A 10 ms ticker measures how long the event loop is held at a stretch (the longest wait anything else had).
``--runs`` repeats every case; the summary gives the median over runs of each figure. The exit status is 1 when
any linkDown opened no incident.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import logging
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from alerting.component import ALERTING
from alerting.model import Status, fingerprint_for
from alerting.rule_config import load_rules_dir
from alerting.rules import Phase, TransitionKind, evaluate
from alerting.runner import RuleRunner
from alerting.store import IncidentStore, open_store
from bench._rules_estate import (
    REPORT_INTERVAL,
    SHIPPED_RULES,
    build_state,
    host_samples,
    host_source,
    write_rules_dir,
)
from collector import keys
from collector.app import create_app
from collector.settings import CollectorSettings
from collector.state import Snapshot, State

COMMUNITY = "bench-trap-community"
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
WINDOW = 20  # snapshots per agent before the collector starts (5 minutes at 15 s), as in bench.rules_eval
TRAP_TIMEOUT = 10.0  # seconds a trap may take before the run is declared broken


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record_trap(trap_oid: str) -> bytes:
    """One real v2c trap datagram from ``snmptrap``, caught on a local socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        subprocess.run(
            ["snmptrap", "-v2c", "-c", COMMUNITY, f"127.0.0.1:{port}", "", trap_oid,
             "1.3.6.1.2.1.2.2.1.1.7", "i", "7"],
            check=True, capture_output=True, timeout=10,
        )  # fmt: skip
        return sock.recv(65535)


def link_down_rule_file(directory: Path) -> None:
    network = yaml.safe_load((SHIPPED_RULES / "network.yaml").read_text())
    # LinkDownTrap names InterfaceDown in same_incident, so both go in (InterfaceDown never fires: nothing is polled)
    rules = [r for r in network["rules"] if r["name"] in ("LinkDownTrap", "InterfaceDown")]
    directory.mkdir()
    (directory / "traps.yaml").write_text(yaml.safe_dump({"plans": network["plans"], "rules": rules}))


# ------------------------------------------------------------------------------------------ one run


@dataclasses.dataclass
class Case:
    name: str  # "idle" or "loaded"
    engine: str  # "SQLite" or "PostgreSQL"
    pairs: int  # linkDown/linkUp pairs to send
    hosts: int = 0
    rules: int = 0
    gap: float = 0.0  # seconds: a random pause of up to this before each pair
    max_seconds: float = 600.0  # the trap phase stops after this, whatever is left
    chunk_size: int | None = None  # the runner's, unless given


@dataclasses.dataclass
class Run:
    opened: list[float] = dataclasses.field(default_factory=list)  # seconds, one per linkDown
    resolved: list[float] = dataclasses.field(default_factory=list)
    sent_at: list[float] = dataclasses.field(default_factory=list)  # perf_counter of each linkDown opened
    # linkDowns that opened no incident: the runner evaluated them and holds the alert pending, which for
    # LinkDownTrap (no ``for``) should never be (before 13b98b4 it was, for a trap that came in during a full pass:
    # the pass evaluated it at the time the pass started, before the trap's own, so ``now - since >= for`` failed)
    lost: list[float] = dataclasses.field(default_factory=list)  # perf_counter of each
    passes: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # full passes (start, end)
    stalls: list[float] = dataclasses.field(default_factory=list)  # event-loop stalls seen by the ticker
    seeded: int = 0  # incidents open before the collector started
    seed_seconds: float = 0.0  # building the estate and seeding the store
    reports: int = 0  # agent reports written during the run
    chunk_size: int = 0

    def in_pass(self, sent_at: list[float] | None = None) -> list[bool]:
        starts = [a for a, _ in self.passes]
        out = []
        for t in self.sent_at if sent_at is None else sent_at:
            i = bisect.bisect_right(starts, t) - 1
            out.append(i >= 0 and t <= self.passes[i][1])
        return out


class Collector:
    """A collector app on loopback (trap receiver, rule runner, store), started and stopped by ``running``."""

    def __init__(self, tmp: Path, case: Case, pg_dsn: str) -> None:
        self.tmp, self.case = tmp, case
        self.pg_dsn = pg_dsn if case.engine == "PostgreSQL" else None
        self.schema = f"bench_traps_{uuid.uuid4().hex[:8]}" if self.pg_dsn else None
        self.location = self.pg_dsn or str(tmp / "data" / "wardwatch.db")
        self.trap_port = free_udp_port()
        self.rules_dir = tmp / "rules"

    def settings(self) -> CollectorSettings:
        inventory = self.tmp / "inventory.yaml"
        device = {
            "name": "bench-sw",
            "address": "127.0.0.1",
            "port": free_udp_port(),  # nobody answers polls: only traps matter here
            "community": COMMUNITY,
            "interval_seconds": 3600,
            "timeout_seconds": 0.2,
            "retries": 0,
            "profiles": ["system"],
        }
        inventory.write_text(yaml.safe_dump({"devices": [device]}))
        # one interface going down and up again and again is flapping (the incident would stay open): not here
        alerting: dict[str, Any] = {
            "rules_dir": str(self.rules_dir),
            "flapping_transitions": 1_000_000,
            "store": self.location,
        }
        if self.schema:
            alerting["store_schema"] = self.schema
        (self.tmp / "data").mkdir(exist_ok=True)
        return CollectorSettings.model_validate(
            {
                "data_dir": str(self.tmp / "data"),
                "snmp": {"enabled": True, "inventory_file": str(inventory), "trap_port": self.trap_port},
                "alerting": alerting,
            }
        )

    async def open_store(self) -> IncidentStore:
        return await open_store(self.location, schema=self.schema)

    @contextlib.asynccontextmanager
    async def running(
        self, settings: CollectorSettings, state_ready: Callable[[State], None]
    ) -> AsyncIterator[Any]:
        app = create_app(settings, clock=SystemClock(), registry=CollectorRegistry())
        state_ready(app[keys.STATE])
        runner = web.AppRunner(app)
        try:
            await runner.setup()  # starts the components (store, rule runner, trap receiver)
            yield app
        finally:
            await runner.cleanup()

    async def drop(self) -> None:
        if self.pg_dsn and self.schema:
            conn = await asyncpg.connect(self.pg_dsn)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            finally:
                await conn.close()


async def seed_firing(store: IncidentStore, state: State, rules_dir: Path, now: float) -> int:
    """Open the incidents of every alert the estate fires in steady state (what a collector that has run for
    a while has in its store), so the runner recovers them at start instead of opening them mid-measurement.
    They are acknowledged, as long-running ones are, so the escalation loop has nothing to page for them."""
    rules = load_rules_dir(rules_dir)
    at = datetime.fromtimestamp(now, UTC)
    _, pending = evaluate(rules.rules, state, at, {}, plans=rules.plans)
    long_ago = {
        fp: dataclasses.replace(st, active_since=st.active_since - 86400) for fp, st in pending.items()
    }
    transitions, _ = evaluate(rules.rules, state, at, long_ago, plans=rules.plans)
    firing = [tr for tr in transitions if tr.kind is TransitionKind.FIRING]
    for tr in firing:
        incident, _ = await store.open_or_touch(tr.to_alert(), at)
        await store.acknowledge(incident.id, "bench", at)  # worked on: escalation pages nobody for them
    return len(firing)


async def feed_reports(state: State, hosts: int, rng: random.Random, stop: asyncio.Event, run: Run) -> None:
    """Each agent reports every ``REPORT_INTERVAL`` seconds, the agents in turn (67 reports/s at 1,000)."""
    started = time.perf_counter()
    sent = 0
    while not stop.is_set():
        due = int((time.perf_counter() - started) / REPORT_INTERVAL * hosts)
        while sent < due:
            h, step = sent % hosts, WINDOW + sent // hosts
            t = time.time()
            state.record(host_source(state, h), Snapshot(t, t, samples=host_samples(rng, h, step, t)))
            sent += 1
        run.reports = sent
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.01)


async def tick_stalls(stop: asyncio.Event, run: Run) -> None:
    """How late a 10 ms timer fires: the time the event loop was held by something else."""
    while not stop.is_set():
        started = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.01)
        run.stalls.append(max(0.0, time.perf_counter() - started - 0.01))


def time_full_passes(rule_runner: RuleRunner, run: Run) -> None:
    """Record when each full pass (``run_once`` without ``sources``) starts and ends."""
    original = rule_runner.run_once

    async def run_once(*, sources: Any = None, **kwargs: Any) -> Any:
        if sources is not None:
            return await original(sources=sources, **kwargs)
        started = time.perf_counter()
        try:
            return await original(**kwargs)
        finally:
            run.passes.append((started, time.perf_counter()))

    rule_runner.run_once = run_once  # type: ignore[method-assign]


def note_commits(store: IncidentStore, fingerprint: str) -> dict[str, float]:
    """When the runner's store calls for ``fingerprint`` return (the incident is committed and visible):
    ``{"open": perf_counter, "resolve": perf_counter}``, cleared by the caller before each trap."""
    commits: dict[str, float] = {}
    open_or_touch, resolve_by_fingerprint = store.open_or_touch, store.resolve_by_fingerprint

    async def opened(alert: Any, now: datetime) -> Any:
        result = await open_or_touch(alert, now)
        if alert.fingerprint == fingerprint:
            commits.setdefault("open", time.perf_counter())
        return result

    async def resolved(fp: str, now: datetime, by: str = "system") -> Any:
        result = await resolve_by_fingerprint(fp, now, by)
        if fp == fingerprint:
            commits.setdefault("resolve", time.perf_counter())
        return result

    store.open_or_touch = opened  # type: ignore[method-assign]
    store.resolve_by_fingerprint = resolved  # type: ignore[method-assign]
    return commits


async def wait_until(check: Callable[[], bool], started: float, what: str) -> None:
    while not check():
        if time.perf_counter() > started + TRAP_TIMEOUT:
            raise SystemExit(f"no {what} within {TRAP_TIMEOUT:.0f} s: is the trap receiver up?")
        await asyncio.sleep(0.001)


async def one_run(case: Case, pg_dsn: str, datagrams: tuple[bytes, bytes], seed: int) -> Run:
    down, up = datagrams
    run = Run()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="wardwatch-bench-traps-") as tmp_name:
        tmp = Path(tmp_name)
        collector = Collector(tmp, case, pg_dsn)
        if case.hosts:
            write_rules_dir(collector.rules_dir, case.rules)
        else:
            link_down_rule_file(collector.rules_dir)
        settings = collector.settings()
        estate: State | None = None

        def state_ready(state: State) -> None:
            if estate is None:
                return
            for src in estate.sources():  # before the runner subscribes: history, not new reports
                into = state.upsert_source(
                    src.kind, src.name, labels=src.labels, interval_seconds=src.interval_seconds
                )
                for snapshot in src.window:
                    state.record(into, snapshot)

        stop = asyncio.Event()
        background: list[asyncio.Task[None]] = []
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            prepared = time.perf_counter()
            if case.hosts:  # the agents' last 5 minutes, and the incidents their firing alerts have
                estate = build_state(case.hosts, WINDOW, state=State(), end=time.time(), rng=rng)
                store = await collector.open_store()
                try:
                    run.seeded = await seed_firing(store, estate, collector.rules_dir, time.time())
                finally:
                    await store.close()
            run.seed_seconds = time.perf_counter() - prepared
            async with collector.running(settings, state_ready) as app:
                incident_store = app[ALERTING].store
                rule_runner = app[ALERTING].runner
                assert incident_store is not None and rule_runner is not None
                if case.chunk_size:
                    rule_runner.chunk_size = case.chunk_size
                run.chunk_size = rule_runner.chunk_size
                time_full_passes(rule_runner, run)
                background.append(asyncio.create_task(tick_stalls(stop, run)))
                if case.hosts:
                    state = app[keys.STATE]
                    background.append(asyncio.create_task(feed_reports(state, case.hosts, rng, stop, run)))
                    warm_until = time.perf_counter() + 60
                    while len(run.passes) < 2:  # the first pass matches the recovered alerts: not steady
                        if time.perf_counter() > warm_until:
                            raise SystemExit("the rule runner did not finish two full passes within 60 s")
                        await asyncio.sleep(0.05)
                run.stalls.clear()
                fp = fingerprint_for("LinkDownTrap", {"device": "bench-sw", "if_index": "7"})

                commits = note_commits(incident_store, fp)

                def stuck() -> bool:  # evaluated, but pending: it will not fire (see ``Run.lost``)
                    st = rule_runner.alert_states.get(fp)
                    return st is not None and st.phase is Phase.PENDING

                deadline = time.perf_counter() + case.max_seconds
                for _ in range(case.pairs):
                    if time.perf_counter() > deadline:
                        break
                    if case.gap:
                        await asyncio.sleep(rng.uniform(0, case.gap))
                    commits.clear()
                    started = time.perf_counter()
                    sender.sendto(down, ("127.0.0.1", collector.trap_port))
                    await wait_until(lambda: "open" in commits or stuck(), started, "incident")
                    lost = "open" not in commits
                    if lost:
                        run.lost.append(started)
                    else:
                        run.opened.append(commits["open"] - started)
                        run.sent_at.append(started)
                    started = time.perf_counter()
                    sender.sendto(up, ("127.0.0.1", collector.trap_port))
                    if lost:  # nothing to resolve: wait until the pending alert is dropped
                        await wait_until(lambda: fp not in rule_runner.alert_states, started, "clearing")
                    else:
                        await wait_until(lambda: "resolve" in commits, started, "resolution")
                        run.resolved.append(commits["resolve"] - started)
                stop.set()
                trap_incidents = [
                    i for i in await incident_store.list(limit=1_000_000) if i.rule == "LinkDownTrap"
                ]
                statuses = {i.status for i in trap_incidents}
                assert len(trap_incidents) == len(run.opened) and statuses == {Status.RESOLVED}, (
                    len(trap_incidents),
                    statuses,
                )
        finally:
            stop.set()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            sender.close()
            await collector.drop()
    return run


# --------------------------------------------------------------------------------------------- figures


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000


def run_figures(run: Run) -> dict[str, float]:
    during = [x for x, inside in zip(run.opened, run.in_pass(), strict=True) if inside]
    lost_in_pass = sum(run.in_pass(run.lost))
    passes = [b - a for a, b in run.passes[1:]]  # the first pass recovers the seeded alerts
    out = {
        "sent": len(run.opened) + len(run.lost),
        "opened": len(run.opened),
        "in_pass": len(during) + lost_in_pass,
        "lost": len(run.lost),
        "lost_in_pass": lost_in_pass,
        "stall_max": max(run.stalls, default=0.0) * 1000,
        "stall_p99": pct(run.stalls, 0.99) if run.stalls else 0.0,
    }
    for name, xs in (("open", run.opened), ("resolve", run.resolved), ("in_pass_open", during)):
        if xs:
            out |= {f"{name}_p50": pct(xs, 0.5), f"{name}_p99": pct(xs, 0.99), f"{name}_max": max(xs) * 1000}
    if passes:
        out |= {"pass_median": statistics.median(passes) * 1000, "pass_max": max(passes) * 1000}
    return out


def ms(f: dict[str, float], key: str) -> str:
    return f"{f[key]:.1f} ms" if key in f else "-"


def describe(case: Case, run: Run, f: dict[str, float]) -> str:
    lines = [
        f"  open p50 {ms(f, 'open_p50')}, p99 {ms(f, 'open_p99')}, max {ms(f, 'open_max')}; "
        f"resolve p50 {ms(f, 'resolve_p50')}, p99 {ms(f, 'resolve_p99')}, max {ms(f, 'resolve_max')} "
        f"({f['opened']:.0f} pairs)"
    ]
    if case.hosts:
        lines.append(
            f"  {f['in_pass']:.0f} of {f['sent']:.0f} linkDowns sent during a full pass"
            f" (of those that opened one: p50 {ms(f, 'in_pass_open_p50')}, max {ms(f, 'in_pass_open_max')}); "
            f"{f['lost']:.0f} opened no incident ({f['lost_in_pass']:.0f} of them sent during a full pass)"
        )
        lines.append(
            f"  {run.seeded} incidents seeded ({run.seed_seconds:.0f} s with the estate), "
            f"{run.reports} agent reports during the run"
        )
        if "pass_median" in f:
            lines.append(
                f"  full pass (chunks of {run.chunk_size}): median {f['pass_median']:.0f} ms, "
                f"max {f['pass_max']:.0f} ms over {len(run.passes) - 1} passes"
            )
    lines.append(f"  event loop held at a stretch: p99 {f['stall_p99']:.1f} ms, max {f['stall_max']:.1f} ms")
    return "\n".join(lines)


async def pg_reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def main_async(args: argparse.Namespace) -> int:
    engines = ["SQLite"]
    if not args.no_pg:
        if await pg_reachable(args.pg_dsn):
            engines.append("PostgreSQL")
        else:
            print(f"PostgreSQL at {args.pg_dsn} does not answer: SQLite only (--no-pg to say so)")
    cases: list[Case] = []
    for engine in engines:
        if args.trials:
            cases.append(Case("idle", engine, args.trials, 0, 0, args.gap, args.max_seconds, args.chunk_size))
        if args.hosts:
            cases.append(
                Case(
                    "loaded", engine, args.traps, args.hosts, args.rules, args.gap, args.max_seconds,
                    args.chunk_size,
                )
            )  # fmt: skip
    datagrams = record_trap(LINK_DOWN), record_trap(LINK_UP)
    started = time.perf_counter()
    summary: list[tuple[Case, dict[str, float]]] = []
    for case in cases:
        label = (
            f"{case.name}: {case.hosts} hosts, {case.rules} rules"
            if case.hosts
            else f"{case.name}: 1 device, 2 rules"
        )
        figures = []
        for i in range(args.runs):
            run = await one_run(case, args.pg_dsn, datagrams, seed=7 + i)
            f = run_figures(run)
            figures.append(f)
            print(
                f"{label}, store {case.engine}, run {i + 1} of {args.runs}:\n{describe(case, run, f)}",
                flush=True,
            )
        keys_ = set.intersection(*(set(f) for f in figures))
        summary.append((case, {key: statistics.median(f[key] for f in figures) for key in keys_}))

    total = time.perf_counter() - started
    print(f"\ntrap -> incident open, median of {args.runs} run(s) of each; total time {total:.0f} s")
    print(
        f"{'case':<32}{'store':<12}{'p50':>10}{'p99':>10}{'max':>10}"
        f"{'sent':>6}{'in pass':>9}{'lost':>6}{'pass':>9}{'stall':>9}"
    )
    for case, f in summary:
        label = (
            f"loaded ({case.hosts} hosts, {case.rules} rules)" if case.hosts else "idle (1 device, 2 rules)"
        )
        pass_ms = f"{f['pass_median']:.0f} ms" if "pass_median" in f else "-"
        print(
            f"{label:<32}{case.engine:<12}{ms(f, 'open_p50'):>10}{ms(f, 'open_p99'):>10}{ms(f, 'open_max'):>10}"
            f"{f['sent']:>6.0f}{f['in_pass']:>9.0f}{f['lost']:>6.0f}{pass_ms:>9}{f['stall_max']:>6.0f} ms"
        )
    if any(f["lost"] for _, f in summary):
        print(
            "lost: the runner evaluated the linkDown but holds its alert pending, so no incident (see Run.lost); "
            "p50/p99/max are of the others"
        )
        return 1  # a trap that opens no incident is a failure, not a figure
    return 0


def main() -> int:
    # the example roster's pages go to an outbox with no channel configured: each fails, by design, with a warning
    logging.getLogger("wardwatch.notify.outbox").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(prog="python -m bench.rules_trap_latency")
    parser.add_argument("--trials", type=int, default=200, help="idle case: pairs (0: skip it)")
    parser.add_argument(
        "--hosts", type=int, default=1000, help="loaded case: agents in the state (0: skip it)"
    )
    parser.add_argument("--rules", type=int, default=200, help="loaded case: rules (shipped + generated)")
    parser.add_argument("--traps", type=int, default=200, help="loaded case: linkDown/linkUp pairs")
    parser.add_argument("--gap", type=float, default=0.3, help="random pause before a pair, up to (s)")
    parser.add_argument("--max-seconds", type=float, default=120, help="trap phase of a run at most (s)")
    parser.add_argument("--runs", type=int, default=1, help="runs of every case; the summary shows medians")
    parser.add_argument("--chunk-size", type=int, help="the runner's sources per chunk (default: its own)")
    parser.add_argument("--pg-dsn", default=os.environ.get("WARDWATCH_TEST_PG_DSN") or DEFAULT_PG)
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
