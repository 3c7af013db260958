"""An event (a linkDown trap) that arrives while the runner is part way through a full pass, or whose
``received_at`` is after the ``now`` it is evaluated at, opens its incident; an event alert that could not be
stored, or whose rule has a ``for:``, fires on a later evaluation; reports that arrive during a pass are
evaluated. The real runner and evaluator against a real SQLite store; a fake clock moved by the store calls
(a store call that takes 0.4 s, during which the trap arrives), no sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerting.clock import FakeClock
from alerting.model import Status
from alerting.rule_config import RuleSet
from alerting.rules import Phase, TransitionKind, evaluate
from alerting.runner import RuleRunner
from alerting.store import IncidentStore, StoreError, open_store
from collector.state import SourceKind, State
from tests.alerting.test_rules import FS, FS_LABELS, T0, Ev, add_source, fs_rule, key, link_rule, observe

PORT = {"if_index": "3", "if_name": "GE0/0/3"}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[IncidentStore]:
    s = await open_store(tmp_path / "wardwatch.db")
    yield s
    await s.close()


class StallingStore:
    """Delegates to a real store. The first ``open_or_touch`` takes ``stall`` seconds of the fake clock and
    ``during()`` runs in the middle of it (what arrives while the runner waits for the store). ``down``: the
    incident calls fail."""

    def __init__(self, inner: IncidentStore, clock: FakeClock, stall: float = 0.4) -> None:
        self.inner, self.clock, self.stall = inner, clock, stall
        self.during: Callable[[], None] | None = None
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def open_or_touch(self, alert: Any, now: Any) -> Any:
        if self.down:
            raise StoreError("database is locked")
        during, self.during = self.during, None
        if during is not None:
            self.clock.advance(self.stall / 2)
            during()
            self.clock.advance(self.stall / 2)
        return await self.inner.open_or_touch(alert, now)

    async def resolve_by_fingerprint(self, fingerprint: str, now: Any, by: str = "system") -> Any:
        if self.down:
            raise StoreError("database is locked")
        return await self.inner.resolve_by_fingerprint(fingerprint, now, by)


def estate(state: State, clock: FakeClock, hosts: int = 3) -> None:
    """``hosts`` agents; the first one's filesystem is over the threshold (its alert fires in the first chunk)."""
    add_source(state, "core-sw-01", kind=SourceKind.SNMP, labels={"site": "main"})
    for i in range(hosts):
        src = add_source(state, f"host-{i}")
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95 if i == 0 else 0.5})


def make_runner(store: Any, state: State, clock: FakeClock, rules: list, **kw: Any) -> RuleRunner:
    runner = RuleRunner(store=store, state=state, clock=clock, rules_dir=None, **kw)
    runner.use_rules(RuleSet(tuple(rules), {}, ()))
    return runner


async def trap_incidents(store: IncidentStore) -> list[Any]:
    return [i for i in await store.list(limit=1000) if i.rule == "LinkDownTrap"]


async def test_a_trap_that_arrives_during_a_chunked_full_pass_opens_its_incident_in_that_pass(
    store: IncidentStore,
) -> None:
    clock = FakeClock(T0)
    state = State()
    estate(state, clock)
    stalling = StallingStore(store, clock)
    runner = make_runner(stalling, state, clock, [fs_rule(), link_rule()], chunk_size=1)
    sent: list[float] = []

    def trap() -> None:  # arrives after the pass began, while its first chunk's incident is being stored
        sent.append(clock.time())
        runner.on_event(Ev("linkDown", "core-sw-01", PORT, clock.time()))

    stalling.during = trap
    transitions = await runner.run_once()

    assert sent and sent[0] > T0.timestamp()  # later than the time the pass started at
    assert [(tr.rule.name, tr.kind) for tr in transitions] == [
        ("TestRule", TransitionKind.FIRING),
        ("LinkDownTrap", TransitionKind.FIRING),
    ]
    (inc,) = await trap_incidents(store)
    assert inc.status is Status.OPEN
    assert inc.opened_at.timestamp() >= sent[0]  # not dated before the trap came in
    assert {st.phase for st in runner.alert_states.values()} == {Phase.FIRING}
    # and the next passes neither open it again nor lose it; linkUp resolves it
    clock.advance(5)
    await runner.run_once()
    assert [i.id for i in await trap_incidents(store)] == [inc.id]
    runner.on_event(Ev("linkUp", "core-sw-01", PORT, clock.time()))
    await runner.run_once()
    assert (await store.get(inc.id)).status is Status.RESOLVED


async def test_a_trap_during_a_pass_of_the_running_loop_opens_its_incident(store: IncidentStore) -> None:
    """The same through ``run``: the full pass the loop starts with, a trap during it."""
    clock = FakeClock(T0)
    state = State()
    estate(state, clock, hosts=5)
    stalling = StallingStore(store, clock)
    runner = make_runner(
        stalling, state, clock, [fs_rule(), link_rule()], chunk_size=2, interval_seconds=3600
    )
    stalling.during = lambda: runner.on_event(Ev("linkDown", "core-sw-01", PORT, clock.time()))
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.settle(), 5)
        await asyncio.wait_for(runner.settle(), 5)
        (inc,) = await trap_incidents(store)
        assert inc.status is Status.OPEN
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_trap_handed_on_during_a_pass_is_evaluated_before_the_next_chunk_of_sources(
    store: IncidentStore,
) -> None:
    """The trap receiver hands a datagram on with ``call_soon`` before the event reaches the runner: between two
    chunks the runner lets that happen, and the next chunk takes the trap first, before its sources."""
    clock = FakeClock(T0)
    state = State()
    for i in range(3):  # one chunk each: host-1 and host-2 fire
        src = add_source(state, f"host-{i}")
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.5 if i == 0 else 0.95})
    add_source(state, "core-sw-01", kind=SourceKind.SNMP, labels={"site": "main"})
    runner = make_runner(store, state, clock, [fs_rule(), link_rule()], chunk_size=1)
    loop = asyncio.get_running_loop()

    def deliver() -> None:  # as ``_ScreeningUdpTransport.datagram_received`` -> ``_deliver`` -> the bus
        loop.call_soon(runner.on_event, Ev("linkDown", "core-sw-01", PORT, clock.time()))

    loop.call_soon(deliver)  # the datagram is read while the first chunk is being evaluated
    transitions = await runner.run_once()
    assert [(tr.rule.name, tr.labels.get("host")) for tr in transitions] == [
        ("LinkDownTrap", None),
        ("TestRule", "host-1"),
        ("TestRule", "host-2"),
    ]


class BlockingCounts:
    """Delegates to a real store; ``count_open_by`` waits for ``release`` (a slow read of the counts)."""

    def __init__(self, inner: IncidentStore) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.reading = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def count_open_by(self) -> Any:
        self.reading.set()
        await self.release.wait()
        return await self.inner.count_open_by()


async def test_a_trap_does_not_wait_for_the_open_incident_counts_to_be_read(store: IncidentStore) -> None:
    """The loop reads the counts and statistics beside it after an evaluation, not in its way; ``settle``
    waits for them."""
    registry = CollectorRegistry()
    clock = FakeClock(T0)
    state = State()
    estate(state, clock, hosts=1)
    slow = BlockingCounts(store)
    runner = make_runner(
        slow, state, clock, [fs_rule(), link_rule()], interval_seconds=3600, registry=registry
    )
    slow.release.set()
    await runner.start()
    slow.release.clear()
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(slow.reading.wait(), 5)  # the first pass opened host-0's incident: counting
        runner.on_event(Ev("linkDown", "core-sw-01", PORT, clock.time()))
        for _ in range(500):  # the trap's incident opens while the counts are still being read
            if await trap_incidents(store):
                break
            await asyncio.sleep(0.01)
        assert len(await trap_incidents(store)) == 1 and not slow.release.is_set()
        slow.release.set()
        await asyncio.wait_for(runner.settle(), 5)
        assert (
            registry.get_sample_value(
                "wardwatch_incidents_open",
                {"site": "main", "system": "HIS", "severity": "major", "category": "system_failure"},
            )
            == 1
        )
        assert (
            registry.get_sample_value(
                "wardwatch_incidents_open",
                {"site": "main", "system": "", "severity": "major", "category": "system_failure"},
            )
            == 1
        )
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_reports_that_arrive_during_a_pass_are_evaluated(store: IncidentStore) -> None:
    """A report for a source whose chunk is done is evaluated after the pass; one for a source still to come,
    by its chunk; both at the time they are evaluated, not the time the pass started."""
    clock = FakeClock(T0)
    state = State()
    estate(state, clock, hosts=4)
    stalling = StallingStore(store, clock)
    runner = make_runner(stalling, state, clock, [fs_rule()], chunk_size=3, interval_seconds=3600)
    state.subscribe(runner.on_snapshot)

    def reports() -> None:  # chunks [core-sw-01, host-0, host-1] (being applied) and [host-2, host-3]
        for name in ("host-1", "host-3"):
            src = state.get(SourceKind.AGENT, name)
            assert src is not None
            observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.97})

    stalling.during = reports
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.settle(), 5)
        await asyncio.wait_for(runner.settle(), 5)
        opened = {i.labels["host"]: i for i in await store.list(limit=1000)}
        assert set(opened) == {"host-0", "host-1", "host-3"}
        assert opened["host-3"].opened_at > T0 and opened["host-1"].opened_at > T0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_trap_alert_the_store_failed_to_open_opens_on_the_next_evaluation(
    store: IncidentStore,
) -> None:
    clock = FakeClock(T0)
    state = State()
    estate(state, clock, hosts=0)
    stalling = StallingStore(store, clock)
    runner = make_runner(stalling, state, clock, [link_rule()])
    stalling.down = True
    runner.on_event(Ev("linkDown", "core-sw-01", PORT, clock.time()))
    await runner.run_once()  # fires; the store fails: pending again
    assert await trap_incidents(store) == []
    stalling.down = False
    clock.advance(5)
    await runner.run_once()  # no new event: it fires again all the same
    (inc,) = await trap_incidents(store)
    assert inc.status is Status.OPEN


# ------------------------------------------------------------------------------ the evaluator, alone


def test_an_event_received_after_the_evaluation_time_fires_at_once_and_times_out_from_its_arrival() -> None:
    state = State()
    add_source(state, "core-sw-01", kind=SourceKind.SNMP, labels={"site": "main"})
    rules = [link_rule()]
    received = T0.timestamp() + 0.5  # the pass took its time at T0; the trap came in half a second later
    transitions, states = evaluate(
        rules, state, T0, {}, events=[Ev("linkDown", "core-sw-01", PORT, received)]
    )
    assert [tr.kind for tr in transitions] == [TransitionKind.FIRING]
    assert transitions[0].starts_at == T0  # not after the time it was evaluated at
    (st,) = states.values()
    assert st.phase is Phase.FIRING and st.last_event_at == received
    # the 1 h timeout runs from the trap's arrival
    transitions, states = evaluate(rules, state, T0 + timedelta(hours=1), states)
    assert transitions == [] and len(states) == 1
    transitions, states = evaluate(rules, state, T0 + timedelta(hours=1, seconds=0.5), states)
    assert [tr.kind for tr in transitions] == [TransitionKind.RESOLVED] and states == {}


def test_an_event_rule_with_for_fires_once_it_has_held_that_long_unless_cleared() -> None:
    state = State()
    add_source(state, "core-sw-01", kind=SourceKind.SNMP, labels={"site": "main"})
    rules = [link_rule().model_copy(update={"for_": 60.0})]
    t = T0.timestamp()
    down = Ev("linkDown", "core-sw-01", PORT, t)
    transitions, states = evaluate(rules, state, T0, {}, events=[down])
    assert transitions == [] and [s.phase for s in states.values()] == [Phase.PENDING]
    transitions, states = evaluate(rules, state, T0 + timedelta(seconds=59), states)
    assert transitions == []
    transitions, states = evaluate(rules, state, T0 + timedelta(seconds=60), states)  # no new event needed
    assert [tr.kind for tr in transitions] == [TransitionKind.FIRING]
    assert transitions[0].starts_at == T0
    # a port that comes back within the minute fires nothing
    other = {"if_index": "4", "if_name": "GE0/0/4"}
    went_down = [Ev("linkDown", "core-sw-01", other, t + 70)]
    came_up = [Ev("linkUp", "core-sw-01", other, t + 100)]
    transitions, states = evaluate(rules, state, T0 + timedelta(seconds=70), states, events=went_down)
    assert transitions == []
    transitions, states = evaluate(rules, state, T0 + timedelta(seconds=100), states, events=came_up)
    assert transitions == []
    transitions, states = evaluate(rules, state, T0 + timedelta(seconds=200), states)
    assert transitions == [] and [s.phase for s in states.values()] == [Phase.FIRING]
