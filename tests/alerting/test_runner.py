"""The rule runner against a real SQLite store: transitions become incidents, once; maintenance, dependencies,
flapping, restart, reload, store failures, metrics and the loop's immediate evaluation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerting.clock import FakeClock
from alerting.model import Category, Matcher, Severity, Source, Status, TimelineKind
from alerting.rule_config import RuleSet
from alerting.runner import FlappingPolicy, RuleRunner
from alerting.store import IncidentStore, StoreError, open_store
from collector.state import SourceKind, State
from tests.alerting.test_rules import FS, FS_LABELS, T0, add_source, fs_rule, key, observe, rule

GOOD_RULES = """\
rules:
  - name: FilesystemAlmostFull
    condition: {type: threshold, metric: wardwatch_filesystem_used_ratio, op: ">", value: 0.9}
    severity: major
    category: system_failure
    summary: "{host}: {mountpoint} {value:.0%} full"
"""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[IncidentStore]:
    s = await open_store(tmp_path / "wardwatch.db")
    yield s
    await s.close()


def make_runner(store: IncidentStore, state: State, clock: FakeClock, rules: list, **kw: Any) -> RuleRunner:
    runner = RuleRunner(store=store, state=state, clock=clock, rules_dir=kw.pop("rules_dir", None), **kw)
    runner.use_rules(RuleSet(tuple(rules), {r.name: "https://wiki/plan" for r in rules}, ()))
    return runner


async def test_a_crossing_opens_exactly_one_incident_and_recovery_resolves_it(store: IncidentStore) -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    runner = make_runner(store, state, clock, [fs_rule(**{"for": "1m"})])
    for value in (0.5, 0.95, 0.96, 0.97, 0.97, 0.98):  # pending from 30 s, firing at 90 s
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): value})
        await runner.run_once()
        clock.advance(30)
    (inc,) = await store.list()
    assert inc.number == f"INC-{T0.year}-000001"
    assert (inc.severity, inc.category, inc.source, inc.status) == (
        Severity.MAJOR,
        Category.SYSTEM_FAILURE,
        Source.RULE,
        Status.OPEN,
    )
    assert inc.title == "his-db-01: 0.97" and inc.assets == ("his-db-01",)
    assert inc.labels["mountpoint"] == "/data" and inc.plan_url == "https://wiki/plan"
    assert inc.opened_at == T0 + timedelta(seconds=90)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.4})
    await runner.run_once()
    (inc,) = await store.list()
    assert inc.status is Status.RESOLVED and inc.resolved_by == "system"
    kinds = [e.kind for e in await store.timeline(inc.id)]
    assert kinds[0] is TimelineKind.FIRED and kinds[-1] is TimelineKind.RESOLVED
    # fires again later: a new incident
    clock.advance(600)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.99})
    await runner.run_once()
    clock.advance(60)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.99})
    await runner.run_once()
    numbers = sorted(i.number for i in await store.list())
    assert numbers == [f"INC-{T0.year}-000001", f"INC-{T0.year}-000002"]


async def test_an_alert_inside_a_maintenance_window_is_recorded_and_says_it_pages_nobody(
    store: IncidentStore,
) -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    window = await store.add_maintenance(
        matchers=[Matcher("host", "=", "his-db-01")],
        starts_at=T0 - timedelta(minutes=5),
        ends_at=T0 + timedelta(hours=1),
        author="zhang.wei",
        reason="disk replacement",
        now=T0,
    )
    runner = make_runner(store, state, clock, [fs_rule()])
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()
    (inc,) = await store.list()
    comments = [e for e in await store.timeline(inc.id) if e.kind is TimelineKind.COMMENT]
    assert len(comments) == 1
    assert window.id in comments[0].details["text"] and "pages nobody" in comments[0].details["text"]


async def test_a_childs_reachability_incident_attaches_to_its_parents(store: IncidentStore) -> None:
    clock = FakeClock(T0)
    state = State()
    switch = add_source(state, "access-sw-3", kind=SourceKind.SNMP, interval=60)
    host = add_source(state, "his-app-01", parent="access-sw-3")
    lonely = add_source(state, "pacs-01")
    for src in (switch, host, lonely):
        observe(state, src, clock.now(), {})
    runner = make_runner(store, state, clock, [rule({"type": "missing"}, name="SourceSilent")])
    clock.advance(200)  # all three silent, in one evaluation
    await runner.run_once()
    incidents = {i.labels.get("host") or i.labels.get("device"): i for i in await store.list()}
    assert set(incidents) == {"access-sw-3", "his-app-01", "pacs-01"}
    assert incidents["his-app-01"].parent_id == incidents["access-sw-3"].id
    assert incidents["pacs-01"].parent_id is None and incidents["access-sw-3"].parent_id is None
    timeline = await store.timeline(incidents["his-app-01"].id)
    assert TimelineKind.ATTACHED in [e.kind for e in timeline]


async def test_a_parent_that_goes_down_after_its_child_adopts_the_childs_incident(
    store: IncidentStore,
) -> None:
    clock = FakeClock(T0)
    state = State()
    switch = add_source(state, "access-sw-3", kind=SourceKind.SNMP, interval=120)
    host = add_source(state, "his-app-01", parent="access-sw-3", interval=15)
    observe(state, switch, clock.now(), {})
    observe(state, host, clock.now(), {})
    runner = make_runner(store, state, clock, [rule({"type": "missing"}, name="SourceSilent")])
    clock.advance(60)  # the host is silent (4 intervals), the switch not yet (0.5)
    await runner.run_once()
    (child,) = await store.list()
    assert child.parent_id is None
    clock.advance(320)
    await runner.run_once()
    incidents = {i.labels.get("host") or i.labels.get("device"): i for i in await store.list()}
    assert incidents["his-app-01"].parent_id == incidents["access-sw-3"].id


async def test_flapping_keeps_one_incident_open_and_resolves_it_when_quiet(store: IncidentStore) -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    runner = make_runner(store, state, clock, [fs_rule()], flapping=FlappingPolicy(4, 3600.0, 900.0))
    for value in (0.95, 0.5, 0.95, 0.5, 0.95, 0.5):  # fire, resolve, fire (3 transitions), ...
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): value})
        await runner.run_once()
        clock.advance(60)
    incidents = await store.list()
    assert [i.number for i in incidents].count(f"INC-{T0.year}-000002") == 1
    assert len(incidents) == 2  # the first flap resolved normally; from the 4th transition on it is held
    held = incidents[0]
    assert held.status is Status.OPEN and held.flapping
    kinds = [e.kind for e in await store.timeline(held.id)]
    assert TimelineKind.FLAPPING_STARTED in kinds
    clock.advance(500)  # 560 s after the last transition
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.5})
    await runner.run_once()
    assert (await store.get(held.id)).status is Status.OPEN  # not quiet long enough yet
    clock.advance(400)  # 960 s: quiet
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.5})
    await runner.run_once()
    held = await store.get(held.id)
    assert held.status is Status.RESOLVED and not held.flapping


async def test_restart_neither_duplicates_a_firing_alert_nor_forgets_one_that_cleared(
    store: IncidentStore,
) -> None:
    clock = FakeClock(T0)
    state = State()
    a = add_source(state, "his-db-01")
    b = add_source(state, "pacs-01")
    rules = [fs_rule(**{"for": "2m"})]
    first = make_runner(store, state, clock, rules)
    for _ in range(10):
        observe(state, a, clock.now(), {key(FS, **FS_LABELS): 0.95})
        observe(state, b, clock.now(), {key(FS, **FS_LABELS): 0.95})
        await first.run_once()
        clock.advance(15)
    assert len(await store.list(status=Status.OPEN)) == 2
    # a new process: empty state, same store; a is still full, b recovered meanwhile
    state = State()
    a = add_source(state, "his-db-01")
    b = add_source(state, "pacs-01")
    second = make_runner(store, state, clock, rules)
    await second.recover()
    await second.run_once()  # nothing reported yet: nothing changes
    assert len(await store.list(status=Status.OPEN)) == 2
    observe(state, a, clock.now(), {key(FS, **FS_LABELS): 0.97})
    observe(state, b, clock.now(), {key(FS, **FS_LABELS): 0.2})
    await second.run_once()
    incidents = {i.labels["host"]: i for i in await store.list()}
    assert len(await store.list()) == 2
    assert incidents["his-db-01"].status is Status.OPEN
    assert incidents["pacs-01"].status is Status.RESOLVED


class FailingStore:
    """Delegates to a real store; ``open_or_touch`` and ``resolve_by_fingerprint`` fail while ``down``."""

    def __init__(self, inner: IncidentStore) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def open_or_touch(self, alert: Any, now: Any) -> Any:
        if self.down:
            raise StoreError("database is locked")
        return await self.inner.open_or_touch(alert, now)

    async def resolve_by_fingerprint(self, fingerprint: str, now: Any, by: str = "system") -> Any:
        if self.down:
            raise StoreError("database is locked")
        return await self.inner.resolve_by_fingerprint(fingerprint, now, by)


async def test_a_store_failure_is_retried_on_the_next_evaluation(store: IncidentStore) -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    failing = FailingStore(store)
    runner = make_runner(failing, state, clock, [fs_rule(**{"for": "1m"})])  # type: ignore[arg-type]
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()
    clock.advance(60)
    failing.down = True
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()  # fires, the store fails
    assert await store.list() == []
    failing.down = False
    clock.advance(15)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()  # fires again at once: for: was already served
    (inc,) = await store.list()
    failing.down = True
    clock.advance(15)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.1})
    await runner.run_once()  # resolves, the store fails
    assert (await store.get(inc.id)).status is Status.OPEN
    failing.down = False
    clock.advance(15)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.1})
    await runner.run_once()
    assert (await store.get(inc.id)).status is Status.RESOLVED
    assert len(await store.list()) == 1


async def test_a_malformed_rule_file_on_reload_keeps_the_last_good_set(
    store: IncidentStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    path = rules_dir / "hosts.yaml"
    path.write_text(GOOD_RULES)
    runner = RuleRunner(store=store, state=State(), clock=FakeClock(T0), rules_dir=rules_dir)
    assert runner.reload() and [r.name for r in runner.rules.rules] == ["FilesystemAlmostFull"]
    assert not runner.reload()  # unchanged files are not read again
    path.write_text(GOOD_RULES.replace("severity: major", "severity: huge"))
    with caplog.at_level(logging.ERROR, logger="wardwatch.rules"):
        assert not runner.reload()
    assert [r.name for r in runner.rules.rules] == ["FilesystemAlmostFull"]
    assert runner.rules.rules[0].severity == "major"
    assert f"{path}:4: rules[0].severity:" in caplog.text
    assert runner.load_problems and runner.load_problems[0].startswith(f"{path}:4: rules[0].severity")
    path.write_text(GOOD_RULES.replace("severity: major", "severity: critical"))
    assert runner.reload()
    assert runner.rules.rules[0].severity == "critical" and runner.load_problems == []


@pytest.mark.parametrize("how", ["renamed", "emptied"])
async def test_a_rules_folder_that_vanishes_or_empties_resolves_nothing(
    store: IncidentStore, tmp_path: Path, how: str
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "hosts.yaml").write_text(GOOD_RULES)
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    runner = RuleRunner(store=store, state=state, clock=clock, rules_dir=rules_dir)
    await runner.start()
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()
    (inc,) = await store.list()
    if how == "renamed":  # an unmounted share, a rename
        rules_dir.rename(tmp_path / "rules.old")
    else:  # `rm rules/*` before copying the new files in
        (rules_dir / "hosts.yaml").unlink()
    clock.advance(30)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})

    assert not runner.reload()
    await runner.run_once()

    assert (await store.get(inc.id)).status is Status.OPEN  # nothing resolved, nobody paged again
    assert [r.name for r in runner.rules.rules] == ["FilesystemAlmostFull"]
    assert runner.load_problems and str(rules_dir) in runner.load_problems[0]


async def test_metrics_count_open_incidents_and_evaluations(store: IncidentStore) -> None:
    registry = CollectorRegistry()
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    runner = make_runner(store, state, clock, [fs_rule()], registry=registry)
    await runner.refresh_open_counts()
    labels = {"severity": "major", "category": "system_failure"}
    nowhere = {"site": "", "system": ""}  # incidents without a site or system: there from the start
    assert registry.get_sample_value("wardwatch_incidents_open", {**nowhere, **labels}) == 0
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()
    his = {"site": "main", "system": "HIS"}  # the source's asset labels, on its incident
    assert registry.get_sample_value("wardwatch_incidents_open", {**his, **labels}) == 1
    assert registry.get_sample_value("wardwatch_incidents_open", {**nowhere, **labels}) == 0
    assert registry.get_sample_value("wardwatch_rule_evaluations_total", {"trigger": "tick"}) == 1
    assert registry.get_sample_value("wardwatch_rule_evaluation_duration_seconds_count") == 1
    assert registry.get_sample_value("wardwatch_alert_transitions_total", {"kind": "firing"}) == 1
    assert registry.get_sample_value("wardwatch_alerts", {"phase": "firing"}) == 1


async def test_the_loop_evaluates_a_new_report_at_once(store: IncidentStore) -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    registry = CollectorRegistry()
    runner = make_runner(store, state, clock, [fs_rule()], interval_seconds=3600.0, registry=registry)
    state.subscribe(runner.on_snapshot)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.settle(), 5)  # the first (full) tick
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
        await asyncio.wait_for(runner.settle(), 5)
        (inc,) = await store.list()
        assert inc.status is Status.OPEN
        assert registry.get_sample_value("wardwatch_rule_evaluations_total", {"trigger": "report"}) == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_full_evaluation_in_chunks_sees_every_source_once(store: IncidentStore) -> None:
    clock = FakeClock(T0)
    state = State()
    for i in range(250):
        src = add_source(state, f"host-{i:03d}")
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95 if i % 2 else 0.5})
    runner = make_runner(store, state, clock, [fs_rule()], chunk_size=100)
    transitions = await runner.run_once()
    assert len(transitions) == 125
    assert len(await store.list(limit=1000)) == 125
    clock.advance(15)
    for i in range(250):
        observe(state, state.get(SourceKind.AGENT, f"host-{i:03d}"), clock.now(), {key(FS, **FS_LABELS): 0.5})  # type: ignore[arg-type]
    transitions = await runner.run_once()
    assert len(transitions) == 125
    assert {i.status for i in await store.list(limit=1000)} == {Status.RESOLVED}


class FlakyApplyStore(FailingStore):
    """``apply`` fails once (a lost connection while attaching)."""

    def __init__(self, inner: IncidentStore) -> None:
        super().__init__(inner)
        self.apply_failures = 1

    async def apply(self, *args: Any, **kwargs: Any) -> Any:
        if self.apply_failures:
            self.apply_failures -= 1
            raise StoreError("connection lost")
        return await self.inner.apply(*args, **kwargs)


async def test_an_attachment_that_failed_is_made_on_the_next_evaluation(store: IncidentStore) -> None:
    clock = FakeClock(T0)
    state = State()
    switch = add_source(state, "access-sw-3", kind=SourceKind.SNMP, interval=60)
    host = add_source(state, "his-app-01", parent="access-sw-3")
    for src in (switch, host):
        observe(state, src, clock.now(), {})
    flaky = FlakyApplyStore(store)
    runner = make_runner(flaky, state, clock, [rule({"type": "missing"}, name="SourceSilent")])  # type: ignore[arg-type]
    clock.advance(200)
    await runner.run_once()  # both open; attaching the child fails
    incidents = {i.labels.get("host") or i.labels.get("device"): i for i in await store.list()}
    assert incidents["his-app-01"].parent_id is None
    clock.advance(5)
    await runner.run_once()  # the child's alert fires again: touched, and attached this time
    incidents = {i.labels.get("host") or i.labels.get("device"): i for i in await store.list()}
    assert len(incidents) == 2
    assert incidents["his-app-01"].parent_id == incidents["access-sw-3"].id


async def test_removing_a_rule_resolves_its_incidents_but_a_bad_file_does_not(
    store: IncidentStore, tmp_path: Path
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    path = rules_dir / "hosts.yaml"
    path.write_text(GOOD_RULES)
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    runner = RuleRunner(store=store, state=state, clock=clock, rules_dir=rules_dir)
    await runner.start()
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()
    (inc,) = await store.list()
    path.write_text("rules: [\n")  # broken: the rule stays
    assert not runner.reload()
    clock.advance(15)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()
    assert (await store.get(inc.id)).status is Status.OPEN
    path.write_text("rules: []\n")  # the rule is taken out on purpose
    assert runner.reload()
    await runner.run_once()
    assert (await store.get(inc.id)).status is Status.RESOLVED
    assert runner.alert_states == {}


async def test_a_port_s_trap_and_its_poll_make_one_incident_that_pages(store: IncidentStore) -> None:
    """The shipped LinkDownTrap and InterfaceDown rules (``same_incident``): the linkDown trap opens the incident
    at once; the poll that confirms the port down a minute later is attached to it and pages nobody."""
    from alerting.escalation_loop import EscalationLoop
    from alerting.oncall_source import OnCallSource
    from alerting.rule_config import load_rules_dir
    from tests.alerting.test_rules import Ev

    repo = Path(__file__).resolve().parents[2]
    shipped = load_rules_dir(repo / "deploy" / "rules")
    rules = [r for r in shipped.rules if r.name in ("LinkDownTrap", "InterfaceDown")]
    clock = FakeClock(T0)
    state = State()
    src = add_source(state, "core-sw-01", kind=SourceKind.SNMP, labels={"site": "main", "system": "network"})
    runner = make_runner(store, state, clock, rules)
    escalation = EscalationLoop(
        store, OnCallSource(repo / "rosters"), clock=clock, registry=CollectorRegistry()
    )
    port = {"if_index": "3", "if_name": "GE0/0/3", "if_alias": "to PACS"}

    runner.on_event(
        Ev("snmp.linkDown", "core-sw-01", {"if_index": "3", "if_name": "GE0/0/3"}, clock.now().timestamp())
    )
    await runner.run_once()
    (trap,) = await store.list()
    assert trap.rule == "LinkDownTrap"
    for _ in range(4):  # the trap's re-poll and the next ones: down while admin up, for a minute and more
        down = {
            key("wardwatch_snmp_if_oper_status", **port): 2.0,
            key("wardwatch_snmp_if_admin_status", **port): 1.0,
        }
        observe(state, src, clock.now(), down)
        await runner.run_once()
        await escalation.tick()
        clock.advance(30)

    polled = await store.list()
    (poll,) = [i for i in polled if i.rule == "InterfaceDown"]
    assert poll.parent_id == trap.id
    assert TimelineKind.ATTACHED in [e.kind for e in await store.timeline(poll.id)]
    assert await store.outbox(incident_id=poll.id) == []  # one page per person, about the trap's incident
    assert await store.outbox(incident_id=trap.id) != []

    runner.on_event(
        Ev("snmp.linkUp", "core-sw-01", {"if_index": "3", "if_name": "GE0/0/3"}, clock.now().timestamp())
    )
    up = {
        key("wardwatch_snmp_if_oper_status", **port): 1.0,
        key("wardwatch_snmp_if_admin_status", **port): 1.0,
    }
    observe(state, src, clock.now(), up)
    await runner.run_once()
    again = await store.list()
    assert {i.status for i in again} == {Status.RESOLVED}
