"""The incident store contract: every test runs against SQLite and against PostgreSQL.

PostgreSQL comes from ``WARDWATCH_TEST_PG_DSN`` (default: the local server); each test gets a fresh schema, dropped
afterwards. When no server answers the PostgreSQL tests fail: they are never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from alerting.model import (
    Acknowledge,
    Alert,
    AttachToParent,
    Category,
    Comment,
    Escalate,
    Matcher,
    OutboxStatus,
    Resolve,
    SaveEscalationState,
    SetFlapping,
    Severity,
    Source,
    Status,
    TimelineKind,
    fingerprint_for,
)
from alerting.store import (
    ClaimLost,
    IncidentGroup,
    IncidentNotFound,
    IncidentStore,
    IncidentTimes,
    InvalidTransition,
    MaintenanceWindowNotFound,
    OutboxItemNotFound,
    StoreError,
    VersionConflict,
    migrations,
    open_store,
)
from alerting.store.postgres import redact_dsn

PG_DSN = os.environ.get("WARDWATCH_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class Backend:
    """One database (a SQLite file or a PostgreSQL schema) that tests can open several store objects on."""

    def __init__(self, kind: str, target: str, schema: str | None) -> None:
        self.kind = kind
        self.target = target
        self.schema = schema
        self.opened: list[IncidentStore] = []

    async def open(self) -> IncidentStore:
        store = await open_store(self.target, schema=self.schema)
        self.opened.append(store)
        return store

    async def raw(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL behind the store's back (what an intruder with database access could do)."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.target)
            try:
                rows = conn.execute(sql).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": str(self.schema)})
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def raw_script(self, script: str) -> None:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.target)
            try:
                conn.executescript(script)
            finally:
                conn.close()
            return
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(
                f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"; SET search_path = "{self.schema}"'
            )
            await conn.execute(script)
        finally:
            await conn.close()

    async def disable_append_only(self, table: str) -> None:
        if self.kind == "sqlite":
            await self.raw(f"DROP TRIGGER {table}_no_update")
            await self.raw(f"DROP TRIGGER {table}_no_delete")
        else:
            await self.raw(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")


async def _pg_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as err:
        pytest.fail(
            f"PostgreSQL at {redact_dsn(PG_DSN)} does not answer ({type(err).__name__}: {err}). "
            "Start it, set WARDWATCH_TEST_PG_DSN, or run `make test`, which starts a throwaway cluster.",
            pytrace=False,
        )


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        b = Backend("sqlite", str(tmp_path / "wardwatch.db"), None)
        yield b
        for s in b.opened:
            await s.close()
        return
    schema = f"ww_test_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin()
    b = Backend("postgres", PG_DSN, schema)
    try:
        yield b
    finally:
        for s in b.opened:
            await s.close()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
async def store(backend: Backend) -> IncidentStore:
    return await backend.open()


def alert(
    rule: str = "filesystem_full",
    host: str = "his-db-01",
    *,
    value: float | None = 0.93,
    severity: Severity = Severity.MAJOR,
    category: Category = Category.SYSTEM_FAILURE,
    source: Source = Source.RULE,
    **labels: str,
) -> Alert:
    all_labels = {"host": host, "site": "main", **labels}
    return Alert(
        fingerprint=fingerprint_for(rule, all_labels),
        rule=rule,
        title=f"{rule} on {host}",
        severity=severity,
        category=category,
        source=source,
        starts_at=T0 - minutes(5),
        labels=all_labels,
        assets=(host,),
        value=value,
        summary=f"{rule} on {host}: {value}",
        description="filesystem / above 90%",
        plan_url="https://wiki.hospital.example/plans/system-failure",
    )


# ---------------------------------------------------------------- open, touch, resolve, re-open


async def test_opens_a_numbered_incident_with_a_fired_timeline(store: IncidentStore) -> None:
    a = alert()
    inc, created = await store.open_or_touch(a, T0)

    assert created is True
    assert inc.number == "INC-2026-000001"
    assert (inc.status, inc.severity, inc.category, inc.source) == (
        Status.OPEN,
        Severity.MAJOR,
        Category.SYSTEM_FAILURE,
        Source.RULE,
    )
    assert (inc.fingerprint, inc.rule, inc.title) == (
        a.fingerprint,
        "filesystem_full",
        "filesystem_full on his-db-01",
    )
    assert inc.labels == {"host": "his-db-01", "site": "main"} and inc.assets == ("his-db-01",)
    assert (inc.opened_at, inc.last_seen_at, inc.opened_by) == (T0, T0, "system")
    assert inc.plan_url == a.plan_url and inc.value == 0.93
    assert (inc.version, inc.escalation_level, inc.flapping, inc.parent_id) == (1, 0, False, None)
    assert await store.get(inc.id) == inc
    [fired] = await store.timeline(inc.id)
    assert (fired.kind, fired.at, fired.actor) == (TimelineKind.FIRED, T0, "system")
    assert fired.details == {"rule": "filesystem_full", "source": "rule", "starts_at": a.starts_at.isoformat(),
                             "value": 0.93}  # fmt: skip


async def test_the_same_fingerprint_touches_the_open_incident_and_records_value_changes(
    store: IncidentStore,
) -> None:
    first, _ = await store.open_or_touch(alert(value=0.93), T0)
    same, created = await store.open_or_touch(alert(value=0.93), T0 + minutes(1))
    moved, created_again = await store.open_or_touch(alert(value=0.97), T0 + minutes(2))

    assert (created, created_again) == (False, False)
    assert same.id == moved.id == first.id and moved.number == "INC-2026-000001"
    assert moved.value == 0.97 and moved.last_seen_at == T0 + minutes(2)
    assert moved.version == first.version  # observations do not bump the compare-and-set version
    assert await store.get(first.id) == moved
    kinds = [(e.kind, e.details) for e in await store.timeline(first.id)]
    assert kinds[1:] == [(TimelineKind.VALUE_UPDATED, {"from": 0.93, "to": 0.97})]
    assert len(await store.list()) == 1
    late, _ = await store.open_or_touch(alert(value=0.97), T0 + minutes(1))  # arrives out of order
    assert late.last_seen_at == T0 + minutes(2) == (await store.get(first.id)).last_seen_at


async def test_a_severity_change_on_touch_is_recorded_and_bumps_the_version(store: IncidentStore) -> None:
    first, _ = await store.open_or_touch(alert(severity=Severity.MINOR), T0)
    worse, _ = await store.open_or_touch(alert(severity=Severity.CRITICAL), T0 + minutes(1))

    assert worse.severity is Severity.CRITICAL and worse.version == first.version + 1
    assert (await store.get(first.id)).severity is Severity.CRITICAL
    last = (await store.timeline(first.id))[-1]
    assert (last.kind, last.details) == (TimelineKind.SEVERITY_CHANGED, {"from": "minor", "to": "critical"})


async def test_numbers_count_up_within_a_year_and_restart_in_the_next(store: IncidentStore) -> None:
    numbers = [(await store.open_or_touch(alert(host=f"h{i}"), T0 + minutes(i)))[0].number for i in range(3)]
    new_year = datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)
    next_year, _ = await store.open_or_touch(alert(host="h9"), new_year)
    late_2026, _ = await store.open_or_touch(alert(host="h10"), datetime(2026, 12, 31, 23, 59, tzinfo=UTC))

    assert numbers == ["INC-2026-000001", "INC-2026-000002", "INC-2026-000003"]
    assert next_year.number == "INC-2027-000001"
    assert late_2026.number == "INC-2026-000004"


async def test_a_resolved_fingerprint_that_fires_again_opens_a_new_incident(store: IncidentStore) -> None:
    a = alert()
    first, _ = await store.open_or_touch(a, T0)
    resolved = await store.resolve_by_fingerprint(a.fingerprint, T0 + minutes(10))
    again, created = await store.open_or_touch(a, T0 + minutes(20))

    assert resolved is not None and resolved.id == first.id
    assert (resolved.status, resolved.resolved_at, resolved.resolved_by) == (
        Status.RESOLVED,
        T0 + minutes(10),
        "system",
    )
    assert created is True and again.id != first.id
    assert again.number == "INC-2026-000002" and again.status is Status.OPEN
    assert (await store.get(first.id)).status is Status.RESOLVED
    assert [e.kind for e in await store.timeline(first.id)] == [TimelineKind.FIRED, TimelineKind.RESOLVED]
    assert [e.kind for e in await store.timeline(again.id)] == [TimelineKind.FIRED]
    assert await store.audit_log() == []  # recovery by the rules is not an operator action
    await store.resolve(again.id, "alice", T0 + minutes(30))
    assert [(a.actor, a.action, a.target) for a in await store.audit_log()] == [
        ("alice", "incident.resolve", "INC-2026-000002")
    ]


async def test_resolve_by_fingerprint_with_nothing_open_returns_none(store: IncidentStore) -> None:
    a = alert()
    assert await store.resolve_by_fingerprint(a.fingerprint, T0) is None
    await store.open_or_touch(a, T0)
    assert await store.resolve_by_fingerprint(a.fingerprint, T0 + minutes(1), by="rule:clear") is not None
    assert await store.resolve_by_fingerprint(a.fingerprint, T0 + minutes(2)) is None


async def test_get_finds_by_id_and_by_number_and_raises_for_unknown(store: IncidentStore) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    assert await store.get(inc.number) == await store.get(inc.id) == inc
    with pytest.raises(IncidentNotFound):
        await store.get("INC-2026-999999")
    with pytest.raises(IncidentNotFound):
        await store.timeline("no-such-id")


async def test_list_filters_by_status_severity_and_category_newest_first(store: IncidentStore) -> None:
    disk, _ = await store.open_or_touch(alert(host="a", severity=Severity.MAJOR), T0)
    net, _ = await store.open_or_touch(
        alert("link_down", host="sw1", severity=Severity.CRITICAL, category=Category.NETWORK_OUTAGE),
        T0 + minutes(1),
    )
    backup, _ = await store.open_or_touch(
        alert("backup_stale", host="b", severity=Severity.WARNING, category=Category.DATA_LOSS),
        T0 + minutes(2),
    )
    await store.resolve(backup.id, "alice", T0 + minutes(3))

    assert [i.id for i in await store.list()] == [backup.id, net.id, disk.id]
    assert [i.id for i in await store.list(limit=2)] == [backup.id, net.id]
    assert [i.id for i in await store.list(status=Status.RESOLVED)] == [backup.id]
    assert [i.id for i in await store.list(status=[Status.OPEN, Status.ACKNOWLEDGED])] == [net.id, disk.id]
    assert [i.id for i in await store.list(severity=Severity.CRITICAL)] == [net.id]
    assert [i.id for i in await store.list(category=[Category.DATA_LOSS, Category.SYSTEM_FAILURE])] == [
        backup.id,
        disk.id,
    ]
    assert await store.list(status=Status.OPEN, category=Category.DATA_LOSS) == []
    assert await store.list(status=[]) == []
    assert [i.id for i in await store.list(status="resolved", severity=["warning"])] == [backup.id]
    with pytest.raises(ValueError):
        await store.list(status="closed")
    assert [i.id for i in await store.list(fingerprint=net.fingerprint)] == [net.id]
    assert [i.id for i in await store.list(opened_since=T0 + minutes(1))] == [backup.id, net.id]


async def test_a_fingerprints_history_shows_each_reopening(store: IncidentStore) -> None:
    a = alert()
    for i in range(3):
        await store.open_or_touch(a, T0 + minutes(10 * i))
        await store.resolve_by_fingerprint(a.fingerprint, T0 + minutes(10 * i + 5))
    await store.open_or_touch(alert(host="other"), T0)

    recent = await store.list(fingerprint=a.fingerprint, opened_since=T0 + minutes(10))
    assert [i.number for i in recent] == ["INC-2026-000003", "INC-2026-000002"]


# ---------------------------------------------------------------- operator actions


async def test_acknowledge_records_who_and_when_and_a_second_ack_changes_nothing(
    store: IncidentStore,
) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    acked = await store.acknowledge(inc.id, "alice", T0 + minutes(3))
    again = await store.acknowledge(inc.number, "bob", T0 + minutes(4))

    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at) == (
        Status.ACKNOWLEDGED,
        "alice",
        T0 + minutes(3),
    )
    assert acked.version == inc.version + 1
    assert again == acked == await store.get(inc.id)
    assert [(e.kind, e.actor) for e in await store.timeline(inc.id)] == [
        (TimelineKind.FIRED, "system"),
        (TimelineKind.ACKNOWLEDGED, "alice"),
    ]


async def test_a_resolved_incident_cannot_be_acknowledged_or_escalated(store: IncidentStore) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    done = await store.resolve(inc.id, "alice", T0 + minutes(1))
    assert (done.status, done.resolved_by, done.resolved_at) == (Status.RESOLVED, "alice", T0 + minutes(1))

    with pytest.raises(InvalidTransition):
        await store.acknowledge(inc.id, "bob", T0 + minutes(2))
    with pytest.raises(InvalidTransition):
        await store.apply(inc.id, done.version, [Escalate(to_level=1)], now=T0 + minutes(2))
    assert await store.get(inc.id) == done


async def test_comments_go_to_the_timeline_and_the_audit_log(store: IncidentStore) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    entry = await store.comment(inc.id, "alice", "restarted the HIS app pool", T0 + minutes(2))

    assert (entry.kind, entry.actor, entry.at, entry.details) == (
        TimelineKind.COMMENT,
        "alice",
        T0 + minutes(2),
        {"text": "restarted the HIS app pool"},
    )
    assert (await store.timeline(inc.id))[-1] == entry
    assert (await store.get(inc.id)).version == inc.version  # history, not state: no compare-and-set churn
    [audit] = await store.audit_log()
    assert (audit.actor, audit.action, audit.target, audit.details) == (
        "alice",
        "incident.comment",
        inc.number,
        {"text": "restarted the HIS app pool"},
    )
    with pytest.raises(InvalidTransition):
        await store.comment(inc.id, "alice", "   ", T0)
    with pytest.raises(IncidentNotFound):
        await store.comment("nope", "alice", "x", T0)


async def test_apply_is_compare_and_set_on_the_version(store: IncidentStore) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    escalated = await store.apply(
        inc.id, inc.version, [Escalate(to_level=1, details={"policy": "his"})], now=T0 + minutes(5)
    )
    assert (escalated.escalation_level, escalated.last_escalated_at, escalated.version) == (
        1,
        T0 + minutes(5),
        2,
    )

    with pytest.raises(VersionConflict) as caught:
        await store.apply(inc.id, inc.version, [Escalate(to_level=2)], now=T0 + minutes(10))
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert await store.get(inc.id) == escalated

    last = (await store.timeline(inc.id))[-1]
    assert (last.kind, last.details) == (
        TimelineKind.ESCALATED,
        {"from_level": 0, "to_level": 1, "policy": "his"},
    )
    with pytest.raises(IncidentNotFound):
        await store.apply("nope", 1, [Escalate(to_level=1)], now=T0)


async def test_apply_runs_several_actions_in_one_version_step(store: IncidentStore) -> None:
    parent, _ = await store.open_or_touch(
        alert("device_down", host="core-sw", category=Category.NETWORK_OUTAGE), T0
    )
    child, _ = await store.open_or_touch(alert("host_silent", host="pacs-01"), T0 + minutes(1))

    after = await store.apply(
        child.id,
        child.version,
        [
            AttachToParent(parent.id),
            SetFlapping(True),
            Acknowledge(by="bob"),
            Comment(by="bob", text="switch"),
        ],
        now=T0 + minutes(2),
    )
    assert (after.parent_id, after.flapping, after.status, after.version) == (
        parent.id,
        True,
        Status.ACKNOWLEDGED,
        2,
    )
    assert [e.kind for e in await store.timeline(child.id)][1:] == [
        TimelineKind.ATTACHED,
        TimelineKind.FLAPPING_STARTED,
        TimelineKind.ACKNOWLEDGED,
        TimelineKind.COMMENT,
    ]
    detached = await store.apply(
        child.id,
        2,
        [AttachToParent(None), SetFlapping(False), Resolve(by="bob", reason="switch back")],
        now=T0,
    )
    assert (detached.parent_id, detached.flapping, detached.status) == (None, False, Status.RESOLVED)
    saved = await store.apply(
        child.id,
        detached.version,
        [SaveEscalationState({"policy": "his", "level_started_at": [T0.isoformat()], "last_round": 0})],
        now=T0,
    )
    assert saved.version == detached.version + 1
    assert (await store.get(child.id)).escalation_state == {
        "policy": "his",
        "level_started_at": [T0.isoformat()],
        "last_round": 0,
    }
    assert (await store.timeline(child.id))[-1].details == {"reason": "switch back"}


async def test_apply_fails_whole_when_one_action_fails(store: IncidentStore) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    with pytest.raises(IncidentNotFound):
        await store.apply(inc.id, 1, [Acknowledge(by="bob"), AttachToParent("no-such-parent")], now=T0)
    with pytest.raises(InvalidTransition):
        await store.apply(inc.id, 1, [Acknowledge(by="bob"), AttachToParent(inc.id)], now=T0)
    assert await store.get(inc.id) == inc
    assert len(await store.timeline(inc.id)) == 1
    assert await store.audit_log() == []


async def test_the_timeline_is_append_only(backend: Backend, store: IncidentStore) -> None:
    await store.open_or_touch(alert(), T0)
    with pytest.raises((sqlite3.Error, asyncpg.PostgresError), match="append-only"):
        await backend.raw("UPDATE timeline SET actor = 'mallory'")
    with pytest.raises((sqlite3.Error, asyncpg.PostgresError), match="append-only"):
        await backend.raw("DELETE FROM timeline")


async def test_naive_times_are_refused(store: IncidentStore) -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        await store.open_or_touch(alert(), datetime(2026, 11, 28, 8, 0))


def unplaced(a: Alert, **labels: str) -> Alert:
    """``a`` with only these labels (no site, no system)."""
    return dataclasses.replace(a, labels=labels, fingerprint=fingerprint_for(a.rule, labels))


async def test_count_open_by_site_system_severity_and_category(store: IncidentStore) -> None:
    await store.open_or_touch(alert(host="a", system="HIS"), T0)
    await store.open_or_touch(alert(host="b", system="HIS"), T0)
    sw, _ = await store.open_or_touch(
        alert(
            "link_down",
            host="sw",
            severity=Severity.CRITICAL,
            category=Category.NETWORK_OUTAGE,
            site="东院",
            system="network",
        ),
        T0,
    )
    gone, _ = await store.open_or_touch(alert(host="c", severity=Severity.WARNING), T0)
    await store.open_or_touch(alert(host="d"), T0)  # a site, no system
    await store.open_or_touch(unplaced(alert(host="e"), host="e"), T0)  # neither (an event, a report)
    await store.open_or_touch(unplaced(alert(host="f"), host="f", system="PACS"), T0)
    await store.acknowledge(sw.id, "alice", T0)
    await store.resolve(gone.id, "alice", T0)

    major = (Severity.MAJOR, Category.SYSTEM_FAILURE)
    assert await store.count_open_by() == {
        IncidentGroup("main", "HIS", *major): 2,
        IncidentGroup("东院", "network", Severity.CRITICAL, Category.NETWORK_OUTAGE): 1,
        IncidentGroup("main", "", *major): 1,
        IncidentGroup("", "", *major): 1,
        IncidentGroup("", "PACS", *major): 1,
    }


async def test_incident_activity_gives_unresolved_recent_and_named_incidents_once(
    store: IncidentStore,
) -> None:
    us = timedelta(microseconds=1)
    # long ago: one resolved (known to the caller by id), one resolved (unknown), one still open
    named, _ = await store.open_or_touch(alert(host="named"), T0 - timedelta(days=30) + 7 * us)
    await store.acknowledge(named.id, "alice", T0 - timedelta(days=30) + minutes(3) + 9 * us)
    await store.resolve(named.id, "alice", T0 - timedelta(days=29))
    forgotten, _ = await store.open_or_touch(alert(host="forgotten"), T0 - timedelta(days=30))
    await store.resolve(forgotten.id, "alice", T0 - timedelta(days=29))
    still, _ = await store.open_or_touch(
        alert(
            "link_down",
            host="sw",
            severity=Severity.CRITICAL,
            category=Category.NETWORK_OUTAGE,
            site="东院",
            system="network",
        ),
        T0 - timedelta(days=2),
    )
    await store.acknowledge(still.id, "bob", T0 - timedelta(days=1))
    # recent: opened and resolved since the caller last looked (an event: no site, no system)
    recent, _ = await store.open_or_touch(
        unplaced(alert(host="recent", severity=Severity.WARNING), source="nagios"), T0 + minutes(1)
    )
    await store.resolve(recent.id, "carol", T0 + minutes(2))

    assert await store.incident_activity(opened_since=T0 + minutes(5)) == [
        IncidentTimes(
            id=still.id,
            severity=Severity.CRITICAL,
            category=Category.NETWORK_OUTAGE,
            opened_at=T0 - timedelta(days=2),
            acknowledged_at=T0 - timedelta(days=1),
            site="东院",
            system="network",
        )
    ]
    found = await store.incident_activity(opened_since=T0, ids=[named.id, still.id, "no-such-id", named.id])
    assert sorted(found, key=lambda t: t.opened_at) == [
        IncidentTimes(
            id=named.id,
            severity=Severity.MAJOR,
            category=Category.SYSTEM_FAILURE,
            opened_at=T0 - timedelta(days=30) + 7 * us,
            acknowledged_at=T0 - timedelta(days=30) + minutes(3) + 9 * us,
            resolved_at=T0 - timedelta(days=29),
            site="main",
        ),
        IncidentTimes(
            id=still.id,
            severity=Severity.CRITICAL,
            category=Category.NETWORK_OUTAGE,
            opened_at=T0 - timedelta(days=2),
            acknowledged_at=T0 - timedelta(days=1),
            site="东院",
            system="network",
        ),
        IncidentTimes(
            id=recent.id,
            severity=Severity.WARNING,
            category=Category.SYSTEM_FAILURE,
            opened_at=T0 + minutes(1),
            resolved_at=T0 + minutes(2),
        ),
    ]
    many = [f"unknown-{i}" for i in range(1200)] + [named.id]  # more ids than one statement takes
    assert {t.id for t in await store.incident_activity(opened_since=T0 + minutes(5), ids=many)} == {
        named.id,
        still.id,
    }
    with pytest.raises(ValueError):
        await store.incident_activity(opened_since=datetime(2026, 11, 28, 8, 0))


# ---------------------------------------------------------------- maintenance windows


async def test_maintenance_windows_match_labels_while_active_and_can_end_early(store: IncidentStore) -> None:
    window = await store.add_maintenance(
        matchers=[Matcher("site", "=", "main"), Matcher("host", "=~", "his-db-0[12]")],
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        author="carol",
        reason="HIS database upgrade, change CR-118",
        now=T0 - timedelta(days=1),
    )
    db1 = {"site": "main", "host": "his-db-01"}

    assert await store.active_maintenance(db1, T0 - minutes(1)) == []
    assert await store.active_maintenance(db1, T0) == [window]
    assert await store.active_maintenance({"site": "main", "host": "his-db-03"}, T0) == []
    assert await store.active_maintenance({"site": "branch", "host": "his-db-01"}, T0) == []
    assert await store.active_maintenance(db1, T0 + timedelta(hours=2)) == []
    assert await store.list_maintenance() == [window]
    assert await store.list_maintenance(active_at=T0 + minutes(30)) == [window]

    ended = await store.end_maintenance(window.id, "carol", T0 + minutes(30))
    assert (ended.ended_at, ended.ended_by) == (T0 + minutes(30), "carol")
    assert await store.active_maintenance(db1, T0 + minutes(29)) == [ended]
    assert await store.active_maintenance(db1, T0 + minutes(31)) == []
    assert await store.list_maintenance(active_at=T0 + minutes(31)) == []
    assert await store.list_maintenance() == [ended]
    assert [a.action for a in await store.audit_log()] == ["maintenance.add", "maintenance.end"]
    with pytest.raises(MaintenanceWindowNotFound):
        await store.end_maintenance("nope", "carol", T0)


async def test_maintenance_windows_are_validated(store: IncidentStore) -> None:
    ok = {"author": "carol", "reason": "upgrade", "now": T0}
    with pytest.raises(ValueError, match="end after"):
        await store.add_maintenance(matchers=[Matcher("host", "=", "x")], starts_at=T0, ends_at=T0, **ok)
    with pytest.raises(ValueError, match="matcher"):
        await store.add_maintenance(matchers=[], starts_at=T0, ends_at=T0 + minutes(1), **ok)
    with pytest.raises(ValueError, match="author and a reason"):
        await store.add_maintenance(
            matchers=[Matcher("host", "=", "x")],
            starts_at=T0,
            ends_at=T0 + minutes(1),
            author="",
            reason="",
            now=T0,
        )
    with pytest.raises(ValueError, match="bad regex"):
        Matcher("host", "=~", "([")
    assert await store.list_maintenance() == []


# ---------------------------------------------------------------- outbox


async def test_enqueue_is_idempotent_on_the_key(store: IncidentStore) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    first, created = await store.enqueue_notification(
        f"{inc.id}:L0:alice:wecom", channel="wecom", target="alice", payload={"text": "P2"},
        due_at=T0, now=T0, incident_id=inc.id,
    )  # fmt: skip
    again, created_again = await store.enqueue_notification(
        f"{inc.id}:L0:alice:wecom", channel="sms", target="bob", payload={}, due_at=T0, now=T0 + minutes(1)
    )
    assert (created, created_again) == (True, False)
    assert again == first
    assert (first.status, first.attempts, first.payload, first.incident_id) == (
        OutboxStatus.PENDING,
        0,
        {"text": "P2"},
        inc.id,
    )
    assert await store.outbox() == [first]


async def test_claims_only_due_items_and_delivery_goes_to_the_timeline(store: IncidentStore) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    now_item, _ = await store.enqueue_notification(
        "k-now", channel="wecom", target="alice", payload={}, due_at=T0, now=T0, incident_id=inc.id
    )
    later, _ = await store.enqueue_notification(
        "k-later",
        channel="sms",
        target="alice",
        payload={},
        due_at=T0 + minutes(5),
        now=T0,
        incident_id=inc.id,
    )

    claimed = await store.claim_due("w1", now=T0, lease_seconds=60)
    assert [c.id for c in claimed] == [now_item.id]
    assert (claimed[0].status, claimed[0].claimed_by, claimed[0].attempts) == (OutboxStatus.CLAIMED, "w1", 1)
    assert claimed[0].claim_expires_at == T0 + timedelta(seconds=60)
    assert await store.claim_due("w2", now=T0 + timedelta(seconds=59)) == []  # held by w1; later not due

    delivered = await store.mark_delivered(now_item.id, worker="w1", now=T0 + timedelta(seconds=2))
    assert (delivered.status, delivered.delivered_at) == (OutboxStatus.DELIVERED, T0 + timedelta(seconds=2))
    notified = (await store.timeline(inc.id))[-1]
    assert (notified.kind, notified.actor, notified.details) == (
        TimelineKind.NOTIFIED,
        "w1",
        {"channel": "wecom", "target": "alice", "key": "k-now", "attempt": 1},
    )
    assert [c.id for c in await store.claim_due("w2", now=T0 + minutes(5))] == [later.id]
    assert await store.outbox(status=OutboxStatus.DELIVERED) == [delivered]
    assert [i.id for i in await store.outbox(incident_id=inc.id)] == [now_item.id, later.id]


async def test_failed_delivery_retries_at_the_next_attempt_then_dies(store: IncidentStore) -> None:
    inc, _ = await store.open_or_touch(alert(), T0)
    item, _ = await store.enqueue_notification(
        "k", channel="webhook", target="ops", payload={}, due_at=T0, now=T0, incident_id=inc.id
    )
    await store.claim_due("w1", now=T0)
    retry_at = T0 + minutes(1)
    failed = await store.mark_failed(item.id, worker="w1", now=T0, error="HTTP 503", next_attempt_at=retry_at)
    assert (failed.status, failed.due_at, failed.last_error, failed.attempts) == (
        OutboxStatus.PENDING,
        retry_at,
        "HTTP 503",
        1,
    )
    assert await store.claim_due("w1", now=retry_at - timedelta(seconds=1)) == []
    [second] = await store.claim_due("w2", now=retry_at)
    assert second.attempts == 2
    dead = await store.mark_failed(item.id, worker="w2", now=retry_at, error="HTTP 400", next_attempt_at=None)
    assert dead.status is OutboxStatus.DEAD
    assert await store.claim_due("w1", now=retry_at + timedelta(days=1)) == []
    failures = [e for e in await store.timeline(inc.id) if e.kind is TimelineKind.NOTIFY_FAILED]
    assert [(e.details["attempt"], e.details["error"], e.details["next_attempt_at"]) for e in failures] == [
        (1, "HTTP 503", retry_at.isoformat()),
        (2, "HTTP 400", None),
    ]


async def test_an_expired_claim_is_taken_over_and_the_old_worker_loses_it(store: IncidentStore) -> None:
    item, _ = await store.enqueue_notification(
        "k", channel="email", target="it", payload={}, due_at=T0, now=T0
    )
    await store.claim_due("w1", now=T0, lease_seconds=30)
    assert await store.claim_due("w2", now=T0 + timedelta(seconds=29)) == []
    [taken] = await store.claim_due("w2", now=T0 + timedelta(seconds=30))
    assert (taken.claimed_by, taken.attempts) == ("w2", 2)

    with pytest.raises(ClaimLost):
        await store.mark_delivered(item.id, worker="w1", now=T0 + minutes(1))
    with pytest.raises(ClaimLost):
        await store.mark_failed(item.id, worker="w1", now=T0 + minutes(1), error="x", next_attempt_at=None)
    assert (
        await store.mark_delivered(item.id, worker="w2", now=T0 + minutes(1))
    ).status is OutboxStatus.DELIVERED
    with pytest.raises(ClaimLost):
        await store.mark_delivered(item.id, worker="w2", now=T0 + minutes(1))
    with pytest.raises(OutboxItemNotFound):
        await store.mark_delivered(424242, worker="w2", now=T0)


# ---------------------------------------------------------------- audit log


async def test_the_audit_chain_verifies_and_detects_tampering(backend: Backend, store: IncidentStore) -> None:
    for i in range(4):
        await store.append_audit(
            actor="admin",
            action="user.role",
            target=f"user{i}",
            details={"role": "responder"},
            now=T0 + minutes(i),
        )
    entries = await store.audit_log()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert [e.seq for e in await store.audit_log(after_seq=2, limit=1)] == [3]
    check = await store.verify_audit_chain()
    assert (check.ok, check.rows) == (True, 4)

    with pytest.raises((sqlite3.Error, asyncpg.PostgresError), match="append-only"):
        await backend.raw('UPDATE audit_log SET details = \'{"role":"admin"}\' WHERE seq = 2')

    await backend.disable_append_only("audit_log")
    await backend.raw('UPDATE audit_log SET details = \'{"role":"admin"}\' WHERE seq = 2')
    check = await store.verify_audit_chain()
    assert (check.ok, check.first_bad_seq) == (False, 2)
    assert "altered" in str(check.reason)


async def test_a_deleted_audit_row_breaks_the_chain(backend: Backend, store: IncidentStore) -> None:
    for i in range(3):
        await store.append_audit(actor="a", action="x", target=str(i), details={}, now=T0)
    await backend.disable_append_only("audit_log")
    await backend.raw("DELETE FROM audit_log WHERE seq = 2")
    check = await store.verify_audit_chain()
    assert (check.ok, check.first_bad_seq) == (False, 2)
    assert "missing" in str(check.reason)


async def test_a_rehashed_forged_row_is_still_detected(backend: Backend, store: IncidentStore) -> None:
    """Rewriting a row's own hash is not enough: the next row's prev_hash no longer matches."""
    for i in range(3):
        await store.append_audit(actor="a", action="x", target=str(i), details={}, now=T0)
    await backend.disable_append_only("audit_log")
    await backend.raw(f"UPDATE audit_log SET hash = '{'f' * 64}' WHERE seq = 2")
    check = await store.verify_audit_chain()
    assert (check.ok, check.first_bad_seq) == (False, 2)


# ---------------------------------------------------------------- concurrency


async def test_two_writers_racing_on_one_fingerprint_open_one_incident(backend: Backend) -> None:
    s1, s2 = await backend.open(), await backend.open()
    a = alert()
    results = await asyncio.gather(*(s.open_or_touch(a, T0) for _ in range(8) for s in (s1, s2)))

    assert sum(created for _, created in results) == 1
    assert {inc.id for inc, _ in results} == {results[0][0].id}
    assert [i.number for i in await s1.list()] == ["INC-2026-000001"]
    assert [e.kind for e in await s2.timeline(results[0][0].id)] == [TimelineKind.FIRED]


async def test_concurrent_openings_get_unique_gapless_numbers(backend: Backend) -> None:
    s1, s2 = await backend.open(), await backend.open()
    alerts = [alert(host=f"host-{i:02d}") for i in range(20)]
    results = await asyncio.gather(*(s1.open_or_touch(a, T0) for a in alerts[::2]),
                                   *(s2.open_or_touch(a, T0) for a in alerts[1::2]))  # fmt: skip

    assert all(created for _, created in results)
    assert sorted(inc.number for inc, _ in results) == [f"INC-2026-{n:06d}" for n in range(1, 21)]


async def test_two_outbox_workers_never_claim_the_same_item(backend: Backend) -> None:
    s1, s2 = await backend.open(), await backend.open()
    for i in range(30):
        await s1.enqueue_notification(f"k{i}", channel="wecom", target="t", payload={}, due_at=T0, now=T0)

    rounds = await asyncio.gather(
        *(s.claim_due(f"w{n}", now=T0, limit=4) for n in range(6) for s in (s1, s2))
    )
    claimed = [item.id for batch in rounds for item in batch]

    assert len(claimed) == len(set(claimed)) == 30
    by_worker = {item.id: item.claimed_by for batch in rounds for item in batch}
    assert {item.id: item.claimed_by for item in await s1.outbox(status=OutboxStatus.CLAIMED)} == by_worker


async def test_only_one_of_two_racing_applies_wins(backend: Backend) -> None:
    s1, s2 = await backend.open(), await backend.open()
    inc, _ = await s1.open_or_touch(alert(), T0)
    results = await asyncio.gather(
        s1.apply(inc.id, inc.version, [Escalate(to_level=1, by="runner-a")], now=T0 + minutes(5)),
        s2.apply(inc.id, inc.version, [Escalate(to_level=1, by="runner-b")], now=T0 + minutes(5)),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, VersionConflict)]
    assert (len(wins), len(losses)) == (1, 1)
    assert [e.kind for e in await s1.timeline(inc.id)].count(TimelineKind.ESCALATED) == 1


async def test_concurrent_audit_appends_keep_one_chain(backend: Backend) -> None:
    s1, s2 = await backend.open(), await backend.open()
    await asyncio.gather(
        *(
            s.append_audit(actor="a", action="x", target=str(i), details={}, now=T0)
            for i in range(10)
            for s in (s1, s2)
        )
    )
    check = await s2.verify_audit_chain()
    assert (check.ok, check.rows) == (True, 20)


async def test_writes_cancelled_midway_leave_nothing_half_done(store: IncidentStore) -> None:
    """Shutdown cancels tasks at any await: each opening is then all there (incident + fired line) or absent."""
    for i in range(60):
        task = asyncio.create_task(store.open_or_touch(alert(host=f"h{i}"), T0))
        for _ in range(i % 12):  # let it get a little further each time before cancelling
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    survivors = await store.list()
    for inc in survivors:
        assert [e.kind for e in await store.timeline(inc.id)] == [TimelineKind.FIRED]
    assert sorted(i.number for i in survivors) == [f"INC-2026-{n:06d}" for n in range(1, len(survivors) + 1)]
    after, created = await store.open_or_touch(alert(host="after"), T0)
    assert created and after.number == f"INC-2026-{len(survivors) + 1:06d}"


# ---------------------------------------------------------------- durability, migrations, secrets


async def test_a_new_store_object_sees_everything_after_close(backend: Backend) -> None:
    s1 = await backend.open()
    inc, _ = await s1.open_or_touch(alert(), T0)
    await s1.acknowledge(inc.id, "alice", T0 + minutes(1))
    await s1.comment(inc.id, "alice", "on it", T0 + minutes(2))
    window = await s1.add_maintenance(
        matchers=[Matcher("host", "=", "x")],
        starts_at=T0,
        ends_at=T0 + minutes(60),
        author="c",
        reason="r",
        now=T0,
    )
    item, _ = await s1.enqueue_notification(
        "k", channel="sms", target="a", payload={"n": 1}, due_at=T0, now=T0
    )
    before = (await s1.get(inc.id), await s1.timeline(inc.id), await s1.audit_log())
    await s1.close()
    backend.opened.remove(s1)

    s2 = await backend.open()
    assert (await s2.get(inc.id), await s2.timeline(inc.id), await s2.audit_log()) == before
    assert await s2.list_maintenance() == [window]
    assert await s2.outbox() == [item]
    assert (await s2.verify_audit_chain()).ok
    again, created = await s2.open_or_touch(alert(), T0 + minutes(3))
    assert (created, again.id) == (False, inc.id)
    assert (await s2.open_or_touch(alert(host="other"), T0))[0].number == "INC-2026-000002"


CRASHING_WRITER = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from alerting.model import Alert, Category, Severity, Source
from alerting.store import open_store

async def main(target, schema):
    store = await open_store(target, schema=schema or None)
    t0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    i = 0
    while True:
        now = t0 + timedelta(seconds=i)
        fp = f"fp-{i % 15}"
        if i % 4 == 3:
            await store.resolve_by_fingerprint(fp, now)
        else:
            alert = Alert(fingerprint=fp, rule="r", title=fp, severity=Severity.MAJOR, category=Category.OTHER,
                          source=Source.RULE, starts_at=now, labels={"fp": fp}, value=float(i))
            inc, _ = await store.open_or_touch(alert, now)
            if i % 7 == 0:
                await store.acknowledge(inc.id, "alice", now)
        print(i, flush=True)
        i += 1

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_writer_killed_with_sigkill_loses_and_duplicates_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(CRASHING_WRITER)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), backend.target, backend.schema or "", stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    done = -1
    while done < 300:  # wait for 300 committed operations, reported by the writer itself
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert line, f"the writer stopped early (exit {await proc.wait()})"
        done = int(line)
    proc.kill()  # SIGKILL, mid-stream
    await proc.wait()

    store = await backend.open()
    incidents = await store.list(limit=10_000)
    numbers = sorted(i.number for i in incidents)
    assert numbers == [f"INC-2026-{n:06d}" for n in range(1, len(numbers) + 1)]  # unique, no gaps
    open_fps = [i.fingerprint for i in incidents if i.is_open]
    assert len(open_fps) == len(set(open_fps))  # at most one open incident per fingerprint
    assert len(incidents) > 15  # fingerprints were resolved and re-opened many times
    latest = max(max(i.last_seen_at, i.resolved_at or i.last_seen_at) for i in incidents)
    assert latest >= T0 + timedelta(seconds=done)  # every operation reported as done is there
    for inc in incidents:
        kinds = [e.kind for e in await store.timeline(inc.id)]
        assert kinds[0] is TimelineKind.FIRED and kinds.count(TimelineKind.FIRED) == 1
        assert (TimelineKind.RESOLVED in kinds) == (inc.status is Status.RESOLVED)
        assert (TimelineKind.ACKNOWLEDGED in kinds) == (inc.acknowledged_at is not None)
    assert (await store.verify_audit_chain()).ok
    if backend.kind == "sqlite":
        assert await backend.raw("PRAGMA integrity_check") == [("ok",)]
    after, created = await store.open_or_touch(alert(host="after-crash"), T0)
    assert created and after.number == f"INC-2026-{len(numbers) + 1:06d}"


async def test_migrations_are_recorded_and_applied_once(backend: Backend) -> None:
    await backend.open()
    await backend.open()
    rows = await backend.raw("SELECT version, name FROM schema_version ORDER BY version")
    assert rows == [(1, "initial"), (2, "escalation_state")]


async def test_a_database_at_version_1_is_migrated_on_open_and_keeps_its_rows(backend: Backend) -> None:
    [first, *_] = migrations.load(backend.kind)
    sqlite = backend.kind == "sqlite"
    ts = "'2026-11-28T08:00:00.000000Z'" if sqlite else "'2026-11-28T08:00:00Z'"
    applied_at = "TEXT" if sqlite else "timestamptz"
    await backend.raw_script(
        f"{first.sql};\n"
        f"CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {applied_at});\n"
        f"INSERT INTO schema_version VALUES (1, 'initial', {ts});\n"
        "INSERT INTO incident_counters VALUES (2026, 7);\n"
        "INSERT INTO incidents (id, number, title, severity, category, status, source, fingerprint, rule, labels, "
        "assets, summary, description, opened_at, opened_by, last_seen_at) VALUES ('old-1', 'INC-2026-000007', "
        "'UPS on battery', 'critical', 'system_failure', 'open', 'trap', 'fp-ups', 'ups_on_battery', "
        f"'{{\"device\": \"ups-1\"}}', '[\"ups-1\"]', '', '', {ts}, 'system', {ts});"
    )
    store = await backend.open()

    old = await store.get("INC-2026-000007")
    assert (old.id, old.labels, old.assets, old.escalation_state) == (
        "old-1",
        {"device": "ups-1"},
        ("ups-1",),
        {},
    )
    assert old.opened_at == T0
    assert (await store.open_or_touch(alert(), T0))[0].number == "INC-2026-000008"
    rows = await backend.raw("SELECT version FROM schema_version ORDER BY version")
    assert rows == [(1,), (2,)]


async def test_sqlite_store_in_a_data_directory(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    try:
        await store.open_or_touch(alert(), T0)
    finally:
        await store.close()
    assert (tmp_path / "wardwatch.db").is_file()
    store = await open_store(f"sqlite://{tmp_path / 'wardwatch.db'}")
    try:
        assert len(await store.list()) == 1
    finally:
        await store.close()


async def test_postgres_errors_and_repr_never_show_the_password() -> None:
    secret = "s3cr3t-Pa55"
    dsn = f"postgresql://wardwatch:{secret}@127.0.0.1:1/wardwatch?sslmode=disable"
    with pytest.raises(StoreError) as caught:
        await open_store(dsn)
    assert secret not in str(caught.value)
    assert "postgresql://wardwatch:***@127.0.0.1:1/wardwatch" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is not None
    assert secret not in repr(caught.value.__context__)
    assert redact_dsn(f"postgres://u:{secret}@db:5432/w?password={secret}") == "postgres://u:***@db:5432/w"
    with pytest.raises(StoreError, match="not a valid PostgreSQL DSN") as caught:  # not a bare ValueError
        await open_store(f"postgresql://wardwatch:{secret}@127.0.0.1:notaport/wardwatch")
    assert secret not in str(caught.value)

    # against the real server: its own password if the DSN has one, else ours (ignored by trust auth)
    parts = urlsplit(PG_DSN)
    if parts.password:
        secret, user_dsn = parts.password, PG_DSN
    else:
        netloc = f"{parts.username or 'postgres'}:{secret}@{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )
        user_dsn = urlunsplit(parts._replace(netloc=netloc))
    (await _pg_admin()).terminate()
    schema = f"ww_test_{uuid.uuid4().hex[:12]}"
    store = await open_store(user_dsn, schema=schema)
    try:
        assert secret not in repr(store) and "***" in repr(store)
    finally:
        await store.close()
        admin = await _pg_admin()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
