"""The escalation loop on a real store (SQLite and PostgreSQL) with the example roster and policies, time moved by
a FakeClock: levels climb at the configured delays, acknowledging or resolving stops them, P1 pages the IT head
at once, a SIGKILL between levels (even between the outbox write and the state write) neither skips nor repeats a
level, maintenance windows and dependency suppression page nobody, roster edits are picked up (bad ones are not).
The outbox rows are the truth here: they are what the delivery worker sends."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from alerting.clock import FakeClock
from alerting.escalation_loop import EscalationLoop
from alerting.model import (
    Alert,
    AttachToParent,
    Category,
    Incident,
    Matcher,
    Severity,
    Source,
    TimelineKind,
    fingerprint_for,
)
from alerting.oncall_source import OnCallSource
from alerting.rosters import on_duty, position_holders
from alerting.store import IncidentStore, open_store

REPO = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=SH)  # a Wednesday, day shift


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
async def store(store_target: tuple[str, str | None]) -> AsyncIterator[IncidentStore]:
    s = await open_store(store_target[0], schema=store_target[1])
    yield s
    await s.close()


@pytest.fixture(scope="module")
def oncall() -> OnCallSource:
    return OnCallSource(REPO / "rosters")


def make_loop(store: IncidentStore, oncall: OnCallSource, clock: FakeClock) -> EscalationLoop:
    return EscalationLoop(store, oncall, clock=clock, registry=CollectorRegistry())


def alert(
    severity: Severity = Severity.MAJOR,
    category: Category = Category.SYSTEM_FAILURE,
    host: str = "app-01",
    **labels: str,
) -> Alert:
    all_labels = {"host": host, "site": "main", "system": "HIS", "role": "app", **labels}
    return Alert(
        fingerprint=fingerprint_for("test_rule", all_labels),
        rule="test_rule",
        title=f"{host} is down",
        severity=severity,
        category=category,
        source=Source.RULE,
        starts_at=T0,
        labels=all_labels,
        assets=(host,),
        summary=f"{host} is down",
    )


async def run_until(loop: EscalationLoop, clock: FakeClock, end: datetime, step: timedelta) -> None:
    while clock.now() <= end:
        await loop.tick()
        clock.advance(step)


async def escalations(store: IncidentStore, incident: Incident) -> list[tuple[int, datetime]]:
    return [
        (e.details["to_level"], e.at)
        for e in await store.timeline(incident.id)
        if e.kind is TimelineKind.ESCALATED
    ]


async def pages(store: IncidentStore, incident: Incident) -> dict[str, datetime]:
    """Outbox key (without the contact suffix) -> when it was enqueued, for the first contact of each page."""
    items = await store.outbox(incident_id=incident.id, limit=1000)
    return {i.key.removesuffix("#c0"): i.created_at for i in items if i.key.endswith("#c0")}


def people(keys: dict[str, datetime], incident: Incident, level: int, rnd: int = 0) -> set[str]:
    prefix = f"{incident.id}/L{level}/R{rnd}/"
    return {k.removeprefix(prefix) for k in keys if k.startswith(prefix)}


async def test_an_unacknowledged_p2_climbs_every_level_at_its_delay(
    store: IncidentStore, oncall: OnCallSource
) -> None:
    roster = oncall.current.roster
    clock = FakeClock(T0)
    loop = make_loop(store, oncall, clock)
    inc, _ = await store.open_or_touch(alert(), T0)

    await run_until(loop, clock, T0 + minutes(70), timedelta(seconds=30))

    # the default policy: first-line at once (repeated at 5 and 10 min), systems backup at 15 min, the IT head
    # at 30 min, the emergency command group 30 min after that
    assert await escalations(store, inc) == [
        (1, T0),
        (2, T0 + minutes(15)),
        (3, T0 + minutes(30)),
        (4, T0 + minutes(60)),
    ]
    keys = await pages(store, inc)
    first_line = {p.id for p in position_holders(roster, "first-line", T0)}
    assert first_line and people(keys, inc, 1) == first_line
    assert people(keys, inc, 1, 1) == first_line and people(keys, inc, 1, 2) == first_line
    assert people(keys, inc, 1, 3) == set()  # repeat: 2
    assert people(keys, inc, 2) == {p.id for p in on_duty(roster, "systems", "backup", T0 + minutes(15))}
    assert people(keys, inc, 3) == {p.id for p in position_holders(roster, "it-head", T0 + minutes(30))}
    assert people(keys, inc, 4) == {
        p.id for p in position_holders(roster, "emergency-command", T0 + minutes(60))
    }
    assert keys[f"{inc.id}/L2/R0/{next(iter(people(keys, inc, 2)))}"] == T0 + minutes(15)
    saved = (await store.get(inc.id)).escalation_state
    assert saved["level"] == 4 and saved["policy"] == "default"


@pytest.mark.parametrize("how", ["acknowledge", "resolve"])
async def test_acknowledging_or_resolving_stops_the_climb(
    store: IncidentStore, oncall: OnCallSource, how: str
) -> None:
    clock = FakeClock(T0)
    loop = make_loop(store, oncall, clock)
    inc, _ = await store.open_or_touch(alert(), T0)
    await run_until(loop, clock, T0 + minutes(20), timedelta(seconds=30))
    if how == "acknowledge":
        await store.acknowledge(inc.id, "li-na", clock.now())
    else:
        await store.resolve(inc.id, "li-na", clock.now())
    before = await pages(store, inc)

    await run_until(loop, clock, T0 + minutes(90), timedelta(seconds=30))

    assert await escalations(store, inc) == [(1, T0), (2, T0 + minutes(15))]
    assert await pages(store, inc) == before  # nothing new for level 3 or 4, no more repeats


async def test_a_p1_pages_level_one_and_the_it_head_together(
    store: IncidentStore, oncall: OnCallSource
) -> None:
    roster = oncall.current.roster
    clock = FakeClock(T0)
    loop = make_loop(store, oncall, clock)
    inc, _ = await store.open_or_touch(alert(Severity.CRITICAL), T0)

    result = await loop.tick()

    keys = await pages(store, inc)
    first_line = {p.id for p in position_holders(roster, "first-line", T0)}
    it_head = {p.id for p in position_holders(roster, "it-head", T0)}
    assert it_head and not it_head <= first_line
    assert people(keys, inc, 1) == first_line | it_head
    assert all(at == T0 for at in keys.values())
    assert result.escalated == 1 and result.pages >= len(first_line | it_head)


async def test_planning_twice_at_the_same_moment_pages_once(
    store: IncidentStore, oncall: OnCallSource
) -> None:
    clock = FakeClock(T0)
    inc, _ = await store.open_or_touch(alert(), T0)
    await make_loop(store, oncall, clock).tick()
    await make_loop(store, oncall, clock).tick()  # a second collector, or a restart, at the same instant
    assert await escalations(store, inc) == [(1, T0)]
    assert len(await store.outbox(incident_id=inc.id)) == len(await pages(store, inc))


# A collector that dies: the first process ticks at T0 (level 1) and at T0+15 min, where it is SIGKILLed either
# before that tick (between the levels) or inside it, after the level-2 pages reached the outbox and before the
# state was saved (the worst moment). A second process takes over at T0+15 min.
CRASHING_COLLECTOR = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from datetime import datetime, timedelta
    from pathlib import Path
    from prometheus_client import CollectorRegistry
    from alerting.clock import FakeClock
    from alerting.escalation_loop import EscalationLoop
    from alerting.oncall_source import OnCallSource
    from alerting.store import open_store

    async def main(location, schema, when):
        store = await open_store(location, schema=schema or None)
        t0 = datetime.fromisoformat(sys.argv[4])
        clock = FakeClock(t0)
        loop = EscalationLoop(store, OnCallSource(Path("rosters")), clock=clock, registry=CollectorRegistry())
        await loop.tick()
        print("level 1 done", flush=True)
        clock.advance(timedelta(minutes=15))
        if when == "between":
            os.kill(os.getpid(), signal.SIGKILL)
        save = store.apply

        async def die_before_saving(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        store.apply = die_before_saving
        await loop.tick()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
    """
)


@pytest.mark.parametrize("when", ["between", "after_enqueue"])
async def test_sigkill_between_levels_neither_skips_level_two_nor_repeats_level_one(
    store_target: tuple[str, str | None], oncall: OnCallSource, tmp_path: Path, when: str
) -> None:
    location, schema = store_target
    store = await open_store(location, schema=schema)
    try:
        inc, _ = await store.open_or_touch(alert(), T0)
    finally:
        await store.close()
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", CRASHING_COLLECTOR, location, schema or "", when, T0.isoformat()],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr  # SIGKILL, not an error
    assert "level 1 done" in proc.stdout

    store = await open_store(location, schema=schema)
    try:
        before = await pages(store, inc)
        assert people(before, inc, 1) and not people(before, inc, 1, 1)
        assert bool(people(before, inc, 2)) is (when == "after_enqueue")  # written, state not saved
        assert await escalations(store, inc) == [(1, T0)]

        clock = FakeClock(T0 + minutes(15))
        loop = make_loop(store, oncall, clock)
        await loop.tick()
        await loop.tick()

        after = await pages(store, inc)
        assert await escalations(store, inc) == [(1, T0), (2, T0 + minutes(15))]
        assert people(after, inc, 2) == {
            p.id for p in on_duty(oncall.current.roster, "systems", "backup", clock.now())
        }
        assert {k for k in after if "/L1/" in k} == {
            k for k in before if "/L1/" in k
        }  # level 1 not paged again
        assert len(await store.outbox(incident_id=inc.id, limit=1000)) == len(after)  # each page once
    finally:
        await store.close()


async def test_inside_a_maintenance_window_nobody_is_paged_until_it_ends(
    store: IncidentStore, oncall: OnCallSource
) -> None:
    clock = FakeClock(T0)
    loop = make_loop(store, oncall, clock)
    await store.add_maintenance(
        matchers=[Matcher("host", "=", "app-01")],
        starts_at=T0 - minutes(5),
        ends_at=T0 + minutes(30),
        author="wang-lei",
        reason="HIS upgrade",
        now=T0 - minutes(10),
    )
    inc, _ = await store.open_or_touch(alert(), T0)
    await run_until(loop, clock, T0 + minutes(29), timedelta(minutes=1))
    assert await pages(store, inc) == {} and await escalations(store, inc) == []

    await run_until(loop, clock, T0 + minutes(31), timedelta(minutes=1))  # the window ended, still broken
    assert await escalations(store, inc) == [(1, T0 + minutes(30))]


async def test_a_child_attached_to_its_parent_pages_nobody_until_the_parent_resolves(
    store: IncidentStore, oncall: OnCallSource
) -> None:
    clock = FakeClock(T0)
    loop = make_loop(store, oncall, clock)
    switch, _ = await store.open_or_touch(
        alert(Severity.MAJOR, Category.NETWORK_OUTAGE, host="sw-core-01"), T0
    )
    host, _ = await store.open_or_touch(alert(host="app-01"), T0)
    await store.apply(host.id, host.version, [AttachToParent(switch.id)], now=T0)

    await run_until(loop, clock, T0 + minutes(20), timedelta(minutes=1))

    assert [lvl for lvl, _ in await escalations(store, switch)] == [1, 2]
    assert await pages(store, host) == {}

    await store.resolve(switch.id, "zhou-tao", clock.now())  # the switch is back, the host still down
    await loop.tick()
    assert await escalations(store, host) == [(1, clock.now())]


async def test_a_flapping_incident_is_not_paged_again(store: IncidentStore, oncall: OnCallSource) -> None:
    from alerting.model import SetFlapping

    clock = FakeClock(T0)
    loop = make_loop(store, oncall, clock)
    inc, _ = await store.open_or_touch(alert(), T0)
    await loop.tick()
    inc = await store.get(inc.id)
    await store.apply(inc.id, inc.version, [SetFlapping(True)], now=T0 + minutes(1))

    await run_until(loop, clock, T0 + minutes(20), timedelta(minutes=1))

    assert await escalations(store, inc) == [(1, T0)]
    assert {k.split("/")[2] for k in await pages(store, inc)} == {"R0"}  # no repeats while flapping


async def test_a_roster_edit_is_used_and_a_broken_edit_keeps_the_last_good_roster(
    store: IncidentStore, tmp_path: Path
) -> None:
    folder = tmp_path / "rosters"
    shutil.copytree(REPO / "rosters", folder)
    source = OnCallSource(folder)
    roster_file = source.current.roster_file
    clock = FakeClock(T0)
    loop = make_loop(store, source, clock)
    good = roster_file.read_text(encoding="utf-8")

    roster_file.write_text(good + "\nthis is: [not valid\n", encoding="utf-8")
    os.utime(roster_file, ns=(1, 1))  # a different mtime whatever the file system's resolution
    inc, _ = await store.open_or_touch(alert(), T0)
    await loop.tick()
    assert source.problems and str(roster_file) in source.problems[0]
    assert people(await pages(store, inc), inc, 1)  # paged from the last good roster

    roster_file.write_text(good.replace("timezone: Asia/Shanghai", "timezone: Asia/Urumqi"), encoding="utf-8")
    os.utime(roster_file, ns=(2, 2))
    assert source.maybe_reload() and source.problems == []
    assert source.current.roster.config.timezone == "Asia/Urumqi"


# The due-time index: a tick plans only the incidents whose next step is due, and anything that changes what is
# due (a new, acknowledged or resolved incident, a policy edit) is seen in the very next tick.


async def test_a_steady_tick_plans_only_the_incidents_that_are_due(
    store: IncidentStore, oncall: OnCallSource
) -> None:
    clock = FakeClock(T0)
    loop = make_loop(store, oncall, clock)
    incs = [(await store.open_or_touch(alert(host=f"app-{n:02d}"), T0))[0] for n in range(12)]

    first = await loop.tick()
    assert first.planned == 12 and first.escalated == 12
    clock.advance(timedelta(seconds=1))
    quiet = await loop.tick()
    assert (quiet.candidates, quiet.reloaded, quiet.planned, quiet.pages) == (12, 0, 0, 0)

    # a new incident, an acknowledgement and a resolution between ticks: seen at once
    late, _ = await store.open_or_touch(alert(host="app-99"), clock.now())
    await store.acknowledge(incs[0].id, "li-na", clock.now())
    await store.resolve(incs[1].id, "li-na", clock.now())
    clock.advance(timedelta(seconds=1))
    changed = await loop.tick()
    assert changed.reloaded == 3 and changed.planned == 1 and changed.escalated == 1
    assert await escalations(store, late) == [(1, T0 + timedelta(seconds=2))]

    clock.set(T0 + minutes(5))  # the default policy's first repeat, for the ten still unacknowledged
    repeat = await loop.tick()
    assert repeat.planned == 10 and repeat.escalated == 0
    keys = await pages(store, incs[2])
    assert people(keys, incs[2], 1, 1) == people(keys, incs[2], 1, 0)
    for quiet_one in incs[:2]:
        assert not people(await pages(store, quiet_one), quiet_one, 1, 1)  # acknowledged, resolved: no repeat
    clock.advance(timedelta(seconds=1))
    assert (await loop.tick()).planned == 0


async def test_a_policy_edit_moves_every_due_time_at_once(store: IncidentStore, tmp_path: Path) -> None:
    folder = tmp_path / "rosters"
    shutil.copytree(REPO / "rosters", folder)
    source = OnCallSource(folder)
    policy_file = source.current.escalation_file
    clock = FakeClock(T0)
    loop = make_loop(store, source, clock)
    inc, _ = await store.open_or_touch(alert(), T0)
    await loop.tick()  # level 1; level 2 due at 15 min, the next repeat at 5 min
    clock.set(T0 + minutes(3))
    assert (await loop.tick()).planned == 0

    text = policy_file.read_text(encoding="utf-8")
    default = text.index("  - id: default")
    edited = text[:default] + text[default:].replace("      - delay: 15m\n", "      - delay: 2m\n", 1)
    assert edited != text
    policy_file.write_text(edited, encoding="utf-8")
    os.utime(policy_file, ns=(1, 1))
    clock.advance(timedelta(seconds=1))
    await loop.tick()

    assert source.problems == []
    assert await escalations(store, inc) == [(1, T0), (2, T0 + minutes(3) + timedelta(seconds=1))]


async def test_a_roster_edit_decides_who_the_next_due_level_pages(
    store: IncidentStore, tmp_path: Path
) -> None:
    folder = tmp_path / "rosters"
    shutil.copytree(REPO / "rosters", folder)
    source = OnCallSource(folder)
    roster_file = source.current.roster_file
    clock = FakeClock(T0)
    loop = make_loop(store, source, clock)
    inc, _ = await store.open_or_touch(alert(), T0)
    await run_until(loop, clock, T0 + minutes(29), timedelta(minutes=1))  # level 3 (IT head) due at 30 min
    assert {p.id for p in position_holders(source.current.roster, "it-head", T0)} == {"zhou-min"}

    text = roster_file.read_text(encoding="utf-8")
    roster_file.write_text(text.replace("people: [zhou-min]", "people: [huang-jian]", 1), encoding="utf-8")
    os.utime(roster_file, ns=(1, 1))
    clock.set(T0 + minutes(30))
    await loop.tick()

    assert source.problems == []
    assert people(await pages(store, inc), inc, 3) == {"huang-jian"}


async def test_the_loop_plans_what_planning_every_incident_would(
    store: IncidentStore, oncall: OnCallSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever happens between ticks (incidents opening, acknowledged, resolved; the clock jumping forward or
    set back), the incidents the loop plans give exactly the actions a plan over all of them gives."""
    import random

    from alerting import escalation as engine

    real_plan = engine.plan
    loop = make_loop(store, oncall, FakeClock(T0))
    checked: list[int] = []

    def plan_checked(views, policies, roster, now):  # type: ignore[no-untyped-def]
        actions = real_plan(views, policies, roster, now)
        everything = real_plan([v for _, v in loop._cache.values()], policies, roster, now)
        assert sorted(map(repr, actions)) == sorted(map(repr, everything)), now
        checked.append(len(actions))
        return actions

    monkeypatch.setattr(engine, "plan", plan_checked)
    # a clock set back to before an acknowledgement: the engine pages the repeat that was due then
    first, _ = await store.open_or_touch(alert(host="first"), T0)
    await loop.tick(T0)
    await store.acknowledge(first.id, "li-na", T0 + minutes(7))
    await loop.tick(T0 + minutes(10))
    await loop.tick(T0 + minutes(6))
    assert checked[-1] > 0
    checked.clear()

    rng = random.Random(20261202)
    severities = [Severity.CRITICAL, Severity.MAJOR, Severity.MINOR]
    opened: list[Incident] = []
    now = latest = T0 + minutes(10)
    for _ in range(80):
        if rng.random() < 0.3:
            category = rng.choice([Category.SYSTEM_FAILURE, Category.NETWORK_OUTAGE, Category.DATA_LOSS])
            a = alert(rng.choice(severities), category, host=f"h-{len(opened):03d}")
            opened.append((await store.open_or_touch(a, latest))[0])
        if opened and rng.random() < 0.15:
            inc = await store.get(rng.choice(opened).id)
            if inc.is_open:
                if rng.random() < 0.5 and inc.acknowledged_at is None:
                    await store.acknowledge(inc.id, "li-na", latest)
                else:
                    await store.resolve(inc.id, "li-na", latest)
        await loop.tick(now)
        jump = timedelta(seconds=rng.choice([1, 30, 60, 240, 600, 1800]))
        now = now - jump if rng.random() < 0.08 else latest + jump  # now and then the clock is set back
        latest = max(latest, now)
    assert len(checked) == 80 and sum(checked) > 50  # it did page, and climb


async def test_a_large_load_is_taken_out_of_the_garbage_collectors_full_passes(
    store: IncidentStore, oncall: OnCallSource
) -> None:
    import gc

    clock = FakeClock(T0)
    loop = EscalationLoop(store, oncall, clock=clock, registry=CollectorRegistry(), gc_freeze_after=5)
    small = make_loop(store, oncall, clock)  # 1,000 by default
    for n in range(5):
        await store.open_or_touch(alert(host=f"app-{n:02d}"), T0)
    assert gc.get_freeze_count() == 0
    try:
        await small.tick()
        assert gc.get_freeze_count() == 0
        cached = next(iter(small._cache.values()))[0]
        assert any(o is cached for o in gc.get_objects())  # walked by every full collection
        await loop.tick()
        cached = next(iter(loop._cache.values()))[0]
        assert gc.get_freeze_count() > 0
        assert gc.is_tracked(cached) and not any(o is cached for o in gc.get_objects())  # frozen
    finally:
        gc.unfreeze()
