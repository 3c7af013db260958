"""The incident metrics the collector derives from the store (``alerting.rule_metrics``): open incidents,
opened/resolved counters, the MTTA/MTTR summaries and the newest open incidents as series, by the incidents'
site and system. Through the rule runner against a real SQLite store, and the counting rules on their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerting.clock import FakeClock
from alerting.model import Alert, Category, Incident, Severity, Source, fingerprint_for
from alerting.rule_metrics import (
    NOWHERE,
    OVERFLOW,
    TITLE_MAX,
    IncidentStatsCollector,
    OpenIncidentsCollector,
)
from alerting.store import IncidentGroup, IncidentStore, IncidentTimes, open_store
from collector.state import State
from tests.alerting.test_rules import FS, FS_LABELS, T0, add_source, fs_rule, key, observe
from tests.alerting.test_runner import make_runner

HIS = {"site": "main", "system": "HIS"}  # add_source's asset labels, which the rule's incidents carry
NO_PLACE = {"site": "", "system": ""}  # exposed as empty labels: Prometheus stores them as none
MAJOR_SYSTEM = {**HIS, "severity": "major", "category": "system_failure"}
ACK_SUM = "wardwatch_incident_acknowledge_seconds_sum"


def ack_count(registry: CollectorRegistry, severity: str, place: dict[str, str] = HIS) -> float | None:
    return registry.get_sample_value(
        "wardwatch_incident_acknowledge_seconds_count", {**place, "severity": severity}
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[IncidentStore]:
    s = await open_store(tmp_path / "wardwatch.db")
    yield s
    await s.close()


def manual(n: int, *, title: str = "", severity: Severity = Severity.MINOR) -> Alert:
    return Alert(
        fingerprint=fingerprint_for("manual", {"n": str(n)}),
        rule="manual",
        title=title or f"report {n}",
        severity=severity,
        category=Category.OTHER,
        source=Source.MANUAL,
        starts_at=T0,
        labels={},
        assets=(f"pc-{n}", "printer-1"),
    )


def info_series(registry: CollectorRegistry) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in registry.collect()
        if family.name == "wardwatch_incident_open_info"
        for s in family.samples
    ]


async def test_the_runner_counts_what_happens_to_incidents_from_the_store(store: IncidentStore) -> None:
    # an incident from before the collector started is history, not news: the first read is the baseline
    old, _ = await store.open_or_touch(manual(0), T0 - timedelta(days=1))
    await store.resolve(old.id, "alice", T0 - timedelta(hours=20))
    registry = CollectorRegistry()
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    runner = make_runner(store, state, clock, [fs_rule()], registry=registry)
    await runner.refresh_open_counts()
    for sev in Severity:  # the series of incidents without a site or system exist from the start, at 0
        for cat in Category:
            labels = {**NO_PLACE, "severity": sev.value, "category": cat.value}
            assert registry.get_sample_value("wardwatch_incidents_open", labels) == 0
            assert registry.get_sample_value("wardwatch_incidents_opened_total", labels) == 0
            assert registry.get_sample_value("wardwatch_incidents_resolved_total", labels) == 0
        assert ack_count(registry, sev, NO_PLACE) == 0
        resolve_sum = {**NO_PLACE, "severity": sev}
        assert registry.get_sample_value("wardwatch_incident_resolve_seconds_sum", resolve_sum) == 0
    assert registry.get_sample_value("wardwatch_incidents_opened_total", MAJOR_SYSTEM) is None
    assert info_series(registry) == []

    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    await runner.run_once()  # fires: the runner refreshes after a transition
    assert registry.get_sample_value("wardwatch_incidents_open", MAJOR_SYSTEM) == 1
    # main/HIS is new: its first scrape shows it at 0 (what increase() counts from), the next one counts it
    assert registry.get_sample_value("wardwatch_incidents_opened_total", MAJOR_SYSTEM) == 0
    assert registry.get_sample_value("wardwatch_incidents_opened_total", MAJOR_SYSTEM) == 1
    for sev in Severity:  # every severity and category of the new pair
        for cat in Category:
            labels = {**HIS, "severity": sev.value, "category": cat.value}
            assert registry.get_sample_value("wardwatch_incidents_open", labels) is not None
            assert registry.get_sample_value("wardwatch_incidents_resolved_total", labels) == 0
    (inc,) = await store.list(status="open")
    [(labels, value)] = info_series(registry)
    assert labels == {
        "number": inc.number,
        "severity": "major",
        "category": "system_failure",
        "status": "open",
        "title": inc.title,
        "asset": "his-db-01",
        "site": "main",
        "system": "HIS",
    }
    assert value == T0.timestamp()

    clock.advance(90.5)
    await store.acknowledge(inc.id, "bob", clock.now())
    await runner.run_once()  # a tick refreshes too (an acknowledgement is no transition)
    assert ack_count(registry, "major") == 1
    assert registry.get_sample_value(ACK_SUM, {**HIS, "severity": "major"}) == 90.5
    assert info_series(registry)[0][0]["status"] == "acknowledged"

    clock.advance(600)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.5})
    await runner.run_once()  # recovers: the rules resolve it
    assert registry.get_sample_value("wardwatch_incidents_resolved_total", MAJOR_SYSTEM) == 1
    major = {**HIS, "severity": "major"}
    assert registry.get_sample_value("wardwatch_incident_resolve_seconds_count", major) == 1
    assert registry.get_sample_value("wardwatch_incident_resolve_seconds_sum", major) == 690.5
    assert registry.get_sample_value("wardwatch_incidents_opened_total", MAJOR_SYSTEM) == 1
    assert registry.get_sample_value("wardwatch_incidents_open", MAJOR_SYSTEM) == 0  # stays, at 0
    assert info_series(registry) == []
    other = {**NO_PLACE, "severity": "minor", "category": "other"}  # the old incident was never counted
    assert registry.get_sample_value("wardwatch_incidents_opened_total", other) == 0
    assert registry.get_sample_value("wardwatch_incidents_resolved_total", other) == 0


def times(
    ident: str,
    severity: Severity,
    opened: float,
    ack: float | None = None,
    res: float | None = None,
    category: Category = Category.DATA_LOSS,
    site: str = "",
    system: str = "",
) -> IncidentTimes:
    """An incident's times, in seconds after T0."""

    def at(seconds: float | None) -> datetime | None:
        return None if seconds is None else T0 + timedelta(seconds=seconds)

    return IncidentTimes(
        id=ident,
        severity=severity,
        category=category,
        opened_at=T0 + timedelta(seconds=opened),
        acknowledged_at=at(ack),
        resolved_at=at(res),
        site=site,
        system=system,
    )


MINOR = (NOWHERE, Severity.MINOR, Category.DATA_LOSS)
MAJOR = (NOWHERE, Severity.MAJOR, Category.DATA_LOSS)
CRITICAL = (NOWHERE, Severity.CRITICAL, Category.DATA_LOSS)


def ack(stats: IncidentStatsCollector, severity: Severity) -> list[float]:
    return stats.acknowledge.get((NOWHERE, severity), [0, 0])


def res(stats: IncidentStatsCollector, severity: Severity) -> list[float]:
    return stats.resolve.get((NOWHERE, severity), [0, 0])


def test_each_event_is_counted_once_under_the_severity_it_had_then() -> None:
    stats = IncidentStatsCollector()
    at = lambda seconds: T0 + timedelta(seconds=seconds)  # noqa: E731
    stats.observe([times("a", Severity.MINOR, -3600)], at(0))  # the baseline: nothing counted
    assert stats.opened.get(MINOR, 0) == 0

    a_acked = times("a", Severity.MINOR, -3600, ack=1)
    stats.observe([a_acked, times("b", Severity.MAJOR, 2)], at(5))
    assert stats.opened.get(MINOR, 0) == 0  # opened before the collector started
    assert ack(stats, Severity.MINOR) == [1, 3601.0]
    assert stats.opened[MAJOR] == 1

    # b becomes critical and is acknowledged: its opening stays counted as major, the acknowledgement is critical
    b_acked = times("b", Severity.CRITICAL, 2, ack=62)
    for now in (65, 70):  # a second read of the same rows counts nothing again
        stats.observe([a_acked, b_acked], at(now))
    assert stats.opened[MAJOR] == 1 and stats.opened.get(CRITICAL, 0) == 0
    assert ack(stats, Severity.CRITICAL) == [1, 60.0]
    assert ack(stats, Severity.MAJOR) == [0, 0]

    # b resolved; c opened, acknowledged and resolved between two reads; a deleted (a purge): nothing goes down
    stats.observe(
        [times("b", Severity.CRITICAL, 2, ack=62, res=302), times("c", Severity.MINOR, 80, ack=85, res=90)],
        at(400),
    )
    assert stats.resolved[CRITICAL] == 1 and res(stats, Severity.CRITICAL) == [1, 300.0]
    assert stats.opened[MINOR] == 1 and stats.resolved[MINOR] == 1
    assert ack(stats, Severity.MINOR) == [2, 3606.0]
    assert res(stats, Severity.MINOR) == [1, 10.0]
    assert stats.opened[MAJOR] == 1 and ack(stats, Severity.CRITICAL) == [1, 60.0]

    # an acknowledgement stamped before the opening (two collectors' clocks) adds no negative time
    stats.observe([times("d", Severity.MAJOR, 500, ack=499)], at(505))
    assert ack(stats, Severity.MAJOR) == [1, 0.0]


async def test_late_openings_are_counted_and_settled_incidents_are_not_counted_again(
    store: IncidentStore,
) -> None:
    stats = IncidentStatsCollector(margin=timedelta(minutes=10))
    await stats.refresh(store, T0)
    # committed after the read at T0 + 30 s, stamped 20 s before it (a slow transaction, another clock)
    await stats.refresh(store, T0 + timedelta(seconds=30))
    late, _ = await store.open_or_touch(manual(1), T0 + timedelta(seconds=10))
    await store.resolve(late.id, "alice", T0 + timedelta(seconds=40))
    await stats.refresh(store, T0 + timedelta(seconds=45))
    other = (NOWHERE, Severity.MINOR, Category.OTHER)
    assert stats.opened[other] == 1 and stats.resolved[other] == 1
    for minutes in (5, 11, 30):  # read again within the margin (by the window) and after it (not at all)
        await stats.refresh(store, T0 + timedelta(minutes=minutes))
    assert stats.opened[other] == 1 and stats.resolved[other] == 1
    assert res(stats, Severity.MINOR) == [1, 30.0]


async def test_overlapping_refreshes_take_turns_so_nothing_is_counted_twice() -> None:
    class Store:
        """Hands out rows in call order; the second call's answer waits for ``gate``."""

        def __init__(self) -> None:
            one, two = times("1", Severity.MINOR, 10), times("2", Severity.MINOR, 20)
            self.answers = [[], [one], [one, two], [one, two]]
            self.calls = 0
            self.gate = asyncio.Event()

        async def incident_activity(self, *, opened_since: datetime, ids: list[str]) -> list[IncidentTimes]:
            self.calls += 1
            answer = self.answers[self.calls - 1]
            if self.calls == 2:
                await self.gate.wait()
            return answer

        async def list(self, *, status: object, limit: int) -> list[Incident]:
            return []

    store = Store()
    stats = IncidentStatsCollector()
    await stats.refresh(store, T0)
    slow = asyncio.create_task(stats.refresh(store, T0 + timedelta(seconds=30)))
    await asyncio.sleep(0)
    fast = asyncio.create_task(stats.refresh(store, T0 + timedelta(seconds=31)))
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(slow, fast)
    await stats.refresh(store, T0 + timedelta(seconds=40))
    assert stats.opened[MINOR] == 2


async def test_newest_open_incidents_are_capped_clipped_and_scraped_without_the_store(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "wardwatch.db")
    stats = IncidentStatsCollector(newest=3)
    registry = CollectorRegistry()
    registry.register(stats)
    long_title = "HIS 门诊挂号 " + "x" * 200
    for n in range(5):
        await store.open_or_touch(manual(n, title=long_title if n == 4 else ""), T0 + timedelta(minutes=n))
    await store.resolve((await store.list(limit=1))[0].id, "alice", T0 + timedelta(minutes=9))  # the newest
    await stats.refresh(store, T0 + timedelta(minutes=10))
    await store.close()  # a scrape only reads what the last refresh left
    series = info_series(registry)
    assert [labels["title"] for labels, _ in series] == ["report 3", "report 2", "report 1"]
    assert [value for _, value in series] == [(T0 + timedelta(minutes=n)).timestamp() for n in (3, 2, 1)]
    assert series[0][0]["asset"] == "pc-3, printer-1"
    assert b"wardwatch_incident_open_info{" in generate_latest(registry)

    store = await open_store(tmp_path / "wardwatch.db")
    try:
        await store.open_or_touch(manual(9, title=long_title), T0 + timedelta(minutes=10))
        await stats.refresh(store, T0 + timedelta(minutes=11))
    finally:
        await store.close()
    title = info_series(registry)[0][0]["title"]
    assert len(title) == TITLE_MAX and title.startswith("HIS 门诊挂号 xxx") and title.endswith("…")


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, ...], float]:
    """``name``'s samples by their label values (site, system, severity[, category])."""
    return {
        tuple(s.labels.values()): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == name
    }


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[str, ...]], float]:
    """One scrape: every sample by name and label values."""
    return {
        (s.name, tuple(s.labels.values())): s.value for family in registry.collect() for s in family.samples
    }


def test_incidents_are_counted_under_their_site_and_system_and_a_new_pair_is_first_scraped_at_0() -> None:
    stats = IncidentStatsCollector()
    registry = CollectorRegistry()
    registry.register(stats)
    at = lambda seconds: T0 + timedelta(seconds=seconds)  # noqa: E731
    east_pacs = {"site": "东院", "system": "PACS"}
    stats.observe([times("old", Severity.MAJOR, -60, **east_pacs)], at(0))  # the baseline knows east/PACS
    assert set(samples(registry, "wardwatch_incidents_opened_total")) == {
        (*place, sev.value, cat.value)
        for place in (NOWHERE, ("东院", "PACS"))
        for sev in Severity
        for cat in Category
    }

    stats.observe(
        [
            times("old", Severity.MAJOR, -60, res=10, **east_pacs),
            times("a", Severity.CRITICAL, 5, ack=35, **east_pacs),
            times("b", Severity.CRITICAL, 6, ack=16, site="main", system="HIS"),  # a new pair
            times("c", Severity.CRITICAL, 7, system="LIS"),  # a system, no site (a manual report)
            times("d", Severity.CRITICAL, 8),  # neither (an event from another tool)
        ],
        at(40),
    )
    opened = "wardwatch_incidents_opened_total"
    crit = (Severity.CRITICAL.value, Category.DATA_LOSS.value)
    first = scrape(registry)  # the first scrape after main/HIS and /LIS appeared
    assert first[opened, ("东院", "PACS", *crit)] == 1 and first[opened, ("", "", *crit)] == 1
    assert first[opened, ("main", "HIS", *crit)] == 0 and first[opened, ("", "LIS", *crit)] == 0
    assert first["wardwatch_incident_acknowledge_seconds_sum", ("main", "HIS", "critical")] == 0
    assert first["wardwatch_incident_acknowledge_seconds_count", ("main", "HIS", "critical")] == 0
    then = samples(registry, opened)
    assert then[("main", "HIS", *crit)] == 1 and then[("", "LIS", *crit)] == 1
    assert then[("东院", "PACS", *crit)] == 1 and then[("", "", *crit)] == 1
    assert sum(then.values()) == 4  # each opening once, under its own pair
    assert (
        samples(registry, "wardwatch_incidents_resolved_total")[("东院", "PACS", "major", "data_loss")] == 1
    )
    ack_sum = samples(registry, "wardwatch_incident_acknowledge_seconds_sum")
    assert ack_sum[("东院", "PACS", "critical")] == 30.0 and ack_sum[("main", "HIS", "critical")] == 10.0
    assert ack_sum[("", "", "critical")] == 0


def test_the_pairs_are_bounded_the_others_are_counted_together(caplog: pytest.LogCaptureFixture) -> None:
    stats = IncidentStatsCollector(max_places=3)  # NOWHERE and two more
    opened = OpenIncidentsCollector(max_places=3)
    stats.observe([], T0)
    stats.observe(
        [times(str(n), Severity.MINOR, 1, system=f"typed-{n}") for n in range(5)], T0 + timedelta(1)
    )
    assert list(stats.places) == [NOWHERE, ("", "typed-0"), ("", "typed-1"), (OVERFLOW, OVERFLOW)]
    assert stats.opened[((OVERFLOW, OVERFLOW), Severity.MINOR, Category.DATA_LOSS)] == 3
    warned = [r.getMessage() for r in caplog.records if "(site, system) pairs" in r.getMessage()]
    assert warned == [
        "more than 3 (site, system) pairs on incidents: the metrics count the others under site=system="
        "'(other)' (first one folded: site='', system='typed-2')"
    ]  # once, not once per incident
    major = (Severity.MAJOR, Category.OTHER)
    opened.counts = {IncidentGroup("", f"typed-{n}", *major): 1 for n in range(5)}
    assert opened.counts[((OVERFLOW, OVERFLOW), *major)] == 3
    registry = CollectorRegistry()
    registry.register(stats)
    registry.register(opened)
    per_pair = len(Severity) * len(Category)
    assert len(samples(registry, "wardwatch_incidents_open")) == 4 * per_pair
    assert len(samples(registry, "wardwatch_incidents_opened_total")) == 4 * per_pair


def test_open_incidents_keep_every_pair_seen_at_0_when_its_incidents_are_resolved() -> None:
    gauge = OpenIncidentsCollector()
    registry = CollectorRegistry()
    registry.register(gauge)
    major = (Severity.MAJOR, Category.SYSTEM_FAILURE)
    gauge.counts = {IncidentGroup("main", "HIS", *major): 2, IncidentGroup("", "", *major): 1}
    assert samples(registry, "wardwatch_incidents_open")[("main", "HIS", "major", "system_failure")] == 2
    gauge.counts = {}
    now = samples(registry, "wardwatch_incidents_open")
    assert len(now) == 2 * len(Severity) * len(Category) and set(now.values()) == {0}
