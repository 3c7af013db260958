"""The incident store's logic, written once over an ``Engine`` (SQLite or PostgreSQL).

Concurrency, in short (``docs/store.md`` has the long form):
- every write runs in one transaction (SQLite: ``BEGIN IMMEDIATE``, so writers on the same file take turns;
  PostgreSQL: row locks with ``SELECT ... FOR UPDATE``);
- a partial unique index allows one unresolved incident per fingerprint, and the insert is
  ``ON CONFLICT ... DO NOTHING``: a writer that loses the race rolls back (its number with it) and touches the
  winner's incident instead;
- numbers come from a per-year counter row bumped with an upsert inside the same transaction: no duplicates, and
  no gaps since a rolled-back transaction returns its number;
- ``apply`` and the outbox's mark operations are compare-and-set ``UPDATE ... WHERE version = $n`` /
  ``WHERE claimed_by = $n``; claims take rows with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) or under the write
  lock (SQLite).
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from alerting.model import (
    Acknowledge,
    Action,
    Alert,
    Category,
    Comment,
    Incident,
    Resolve,
    Severity,
    Status,
    TimelineEntry,
    TimelineKind,
)
from alerting.store.engine import Engine, Row, Tx, decode_json, decode_time, decode_time_or_none
from alerting.store.errors import IncidentNotFound, StoreError, VersionConflict
from alerting.store.maintenance import MaintenanceMixin
from alerting.store.outbox import OutboxMixin
from alerting.store.protocol import IncidentGroup, IncidentTimes
from alerting.store.rows import incident_from_row as _incident
from alerting.store.timeline import append_timeline
from alerting.store.transitions import AUDITED_KINDS, NewEntry, apply_actions, incident_number, require_utc

log = logging.getLogger("wardwatch.store")

_INSERT_ATTEMPTS = 5
_IN_CHUNK = 500  # ids per "IN (...)" query: well under SQLite's and asyncpg's parameter limits


class _LostRace(Exception):
    """Another writer opened the fingerprint's incident first: roll back and touch theirs."""


class SqlIncidentStore(MaintenanceMixin, OutboxMixin):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._listeners: builtins.list[Callable[[Incident], None]] = []

    def subscribe(self, listener: Callable[[Incident], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self, incident: Incident) -> None:
        for listener in builtins.list(self._listeners):
            try:
                listener(incident)
            except Exception:  # a broken listener must not fail the write that already committed
                log.exception("incident change listener %r failed", listener)

    @property
    def engine_name(self) -> str:
        return self._engine.name

    async def close(self) -> None:
        await self._engine.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ incidents

    async def open_or_touch(self, alert: Alert, now: datetime) -> tuple[Incident, bool]:
        now = require_utc(now)
        for _ in range(_INSERT_ATTEMPTS):
            try:
                async with self._engine.transaction() as tx:
                    row = await tx.fetchrow(
                        f"SELECT * FROM incidents WHERE fingerprint = $1 AND status <> 'resolved' "
                        f"{self._engine.for_update}",
                        alert.fingerprint,
                    )
                    if row is not None:
                        return await self._touch(tx, _incident(row), alert, now), False
                    created = await self._insert(tx, alert, now)
            except _LostRace:
                continue
            self._changed(created)
            return created, True
        raise StoreError(
            f"could not open an incident for fingerprint {alert.fingerprint!r}: too much contention"
        )

    async def _touch(self, tx: Tx, inc: Incident, alert: Alert, now: datetime) -> Incident:
        entries: list[NewEntry] = []
        changed = inc
        if alert.value is not None and alert.value != inc.value:
            entries.append(
                NewEntry(TimelineKind.VALUE_UPDATED, "system", {"from": inc.value, "to": alert.value})
            )
        if alert.severity is not inc.severity:
            entries.append(
                NewEntry(
                    TimelineKind.SEVERITY_CHANGED, "system", {"from": inc.severity, "to": alert.severity}
                )
            )
            changed = dataclasses.replace(changed, severity=alert.severity, version=inc.version + 1)
        changed = dataclasses.replace(
            changed,
            value=alert.value if alert.value is not None else inc.value,
            summary=alert.summary or inc.summary,
            description=alert.description or inc.description,
            last_seen_at=max(now, inc.last_seen_at),  # a late, out-of-order alert
        )
        # value and last-seen are observations, not decisions: they do not bump the version, so the
        # escalation runner's compare-and-set is not defeated by every evaluation tick.
        await tx.execute(
            "UPDATE incidents SET value = $2, summary = $3, description = $4, last_seen_at = $5, "
            "severity = $6, version = $7 WHERE id = $1",
            inc.id,
            changed.value,
            changed.summary,
            changed.description,
            changed.last_seen_at,
            changed.severity.value,
            changed.version,
        )
        await append_timeline(tx, inc.id, now, entries)
        return changed

    async def _insert(self, tx: Tx, alert: Alert, now: datetime) -> Incident:
        seq_row = await tx.fetchrow(
            "INSERT INTO incident_counters (year, last) VALUES ($1, 1) "
            "ON CONFLICT (year) DO UPDATE SET last = incident_counters.last + 1 RETURNING last",
            now.year,
        )
        assert seq_row is not None
        inc = Incident(
            id=str(uuid.uuid4()),
            number=incident_number(now.year, int(seq_row["last"])),
            title=alert.title,
            severity=alert.severity,
            category=alert.category,
            status=Status.OPEN,
            source=alert.source,
            fingerprint=alert.fingerprint,
            rule=alert.rule,
            labels=dict(alert.labels),
            assets=tuple(alert.assets),
            value=alert.value,
            summary=alert.summary,
            description=alert.description,
            plan_url=alert.plan_url,
            opened_at=now,
            opened_by=alert.opened_by,
            last_seen_at=now,
        )
        inserted = await tx.fetchrow(
            "INSERT INTO incidents (id, number, title, severity, category, status, source, fingerprint, rule, "
            "labels, assets, value, summary, description, plan_url, opened_at, opened_by, last_seen_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) "
            "ON CONFLICT (fingerprint) WHERE status <> 'resolved' DO NOTHING RETURNING id",
            inc.id,
            inc.number,
            inc.title,
            inc.severity.value,
            inc.category.value,
            inc.status.value,
            inc.source.value,
            inc.fingerprint,
            inc.rule,
            inc.labels,
            list(inc.assets),
            inc.value,
            inc.summary,
            inc.description,
            inc.plan_url,
            now,
            inc.opened_by,
            now,
        )
        if inserted is None:
            raise _LostRace
        details: dict[str, Any] = {
            "rule": alert.rule,
            "source": alert.source.value,
            "starts_at": alert.starts_at.isoformat(),
        }
        if alert.value is not None:
            details["value"] = alert.value
        await append_timeline(tx, inc.id, now, [NewEntry(TimelineKind.FIRED, alert.opened_by, details)])
        return inc

    async def resolve_by_fingerprint(
        self, fingerprint: str, now: datetime, by: str = "system"
    ) -> Incident | None:
        """The rules' recovery path: not an operator action, so it is not written to the audit log."""
        now = require_utc(now)
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT * FROM incidents WHERE fingerprint = $1 AND status <> 'resolved' {self._engine.for_update}",
                fingerprint,
            )
            if row is None:
                return None
            new, _ = await self._apply_in(tx, _incident(row), None, [Resolve(by=by)], now, audit=False)
        self._changed(new)
        return new

    async def get(self, ref: str) -> Incident:
        async with self._engine.read() as tx:
            row = await tx.fetchrow("SELECT * FROM incidents WHERE id = $1 OR number = $1", ref)
        if row is None:
            raise IncidentNotFound(ref)
        return _incident(row)

    async def list(
        self,
        *,
        status: Status | Iterable[Status] | None = None,
        severity: Severity | Iterable[Severity] | None = None,
        category: Category | Iterable[Category] | None = None,
        fingerprint: str | None = None,
        opened_since: datetime | None = None,
        limit: int = 100,
    ) -> builtins.list[Incident]:
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        filters: tuple[tuple[str, type[StrEnum], Any], ...] = (
            ("status", Status, status),
            ("severity", Severity, severity),
            ("category", Category, category),
        )
        for column, enum, wanted in filters:
            if wanted is None:
                continue
            # plain strings are accepted too, and checked: an unknown value is a ValueError, not an empty list
            values = [enum(wanted).value] if isinstance(wanted, str) else [enum(w).value for w in wanted]
            if not values:
                return []
            marks = ", ".join(f"${len(args) + i + 1}" for i in range(len(values)))
            where.append(f"{column} IN ({marks})")
            args.extend(values)
        if fingerprint is not None:
            args.append(fingerprint)
            where.append(f"fingerprint = ${len(args)}")
        if opened_since is not None:
            args.append(require_utc(opened_since, "opened_since"))
            where.append(f"opened_at >= ${len(args)}")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        args.append(limit)
        async with self._engine.read() as tx:
            rows = await tx.fetch(
                f"SELECT * FROM incidents {clause} ORDER BY opened_at DESC, number DESC LIMIT ${len(args)}",
                *args,
            )
        return [_incident(r) for r in rows]

    async def acknowledge(self, incident_id: str, by: str, now: datetime) -> Incident:
        return (await self._apply(incident_id, None, [Acknowledge(by=by)], now))[0]

    async def resolve(self, incident_id: str, by: str, now: datetime) -> Incident:
        return (await self._apply(incident_id, None, [Resolve(by=by)], now))[0]

    async def comment(self, incident_id: str, by: str, text: str, now: datetime) -> TimelineEntry:
        _, [entry] = await self._apply(incident_id, None, [Comment(by=by, text=text)], now)
        return entry

    async def apply(
        self, incident_id: str, expected_version: int, actions: Sequence[Action], *, now: datetime
    ) -> Incident:
        return (await self._apply(incident_id, expected_version, actions, now))[0]

    async def _apply(
        self, ref: str, expected_version: int | None, actions: Sequence[Action], now: datetime
    ) -> tuple[Incident, builtins.list[TimelineEntry]]:
        now = require_utc(now)
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT * FROM incidents WHERE id = $1 OR number = $1 {self._engine.for_update}", ref
            )
            if row is None:
                raise IncidentNotFound(ref)
            new, entries = await self._apply_in(tx, _incident(row), expected_version, actions, now)
        if new.version != expected_version:
            self._changed(new)
        return new, entries

    async def _apply_in(
        self,
        tx: Tx,
        inc: Incident,
        expected_version: int | None,
        actions: Sequence[Action],
        now: datetime,
        *,
        audit: bool = True,
    ) -> tuple[Incident, builtins.list[TimelineEntry]]:
        """Inside a transaction holding the incident's row (PostgreSQL) or the write lock (SQLite)."""
        if expected_version is not None and inc.version != expected_version:
            raise VersionConflict(inc.id, expected_version, inc.version)
        new, entries = apply_actions(inc, actions, now)
        if new.parent_id is not None and new.parent_id != inc.parent_id:
            parent = await tx.fetchrow("SELECT id FROM incidents WHERE id = $1", new.parent_id)
            if parent is None:
                raise IncidentNotFound(new.parent_id)
        if new.version != inc.version:
            updated = await tx.execute(
                "UPDATE incidents SET status = $3, acknowledged_at = $4, acknowledged_by = $5, resolved_at = $6, "
                "resolved_by = $7, parent_id = $8, flapping = $9, escalation_level = $10, "
                "last_escalated_at = $11, version = $12, escalation_state = $13 WHERE id = $1 AND version = $2",
                inc.id,
                inc.version,
                new.status.value,
                new.acknowledged_at,
                new.acknowledged_by,
                new.resolved_at,
                new.resolved_by,
                new.parent_id,
                new.flapping,
                new.escalation_level,
                new.last_escalated_at,
                new.version,
                new.escalation_state,
            )
            if updated != 1:
                current = await tx.fetchrow("SELECT version FROM incidents WHERE id = $1", inc.id)
                raise VersionConflict(inc.id, inc.version, int(current["version"]) if current else -1)
        added = await append_timeline(tx, inc.id, now, entries)
        for entry in entries if audit else ():
            if entry.kind in AUDITED_KINDS:
                await self._append_audit(
                    tx,
                    actor=entry.actor,
                    action=AUDITED_KINDS[entry.kind],
                    target=inc.number,
                    details=entry.details,
                    now=now,
                )
        return new, added

    async def timeline(self, incident_id: str) -> builtins.list[TimelineEntry]:
        async with self._engine.read() as tx:
            inc = await tx.fetchrow("SELECT id FROM incidents WHERE id = $1 OR number = $1", incident_id)
            if inc is None:
                raise IncidentNotFound(incident_id)
            rows = await tx.fetch("SELECT * FROM timeline WHERE incident_id = $1 ORDER BY id", inc["id"])
        return [
            TimelineEntry(
                id=int(r["id"]),
                incident_id=r["incident_id"],
                at=decode_time(r["at"]),
                kind=TimelineKind(r["kind"]),
                actor=r["actor"],
                details=decode_json(r["details"]),
            )
            for r in rows
        ]

    async def escalation_candidates(self, *, resolved_since: datetime) -> dict[str, int]:
        async with self._engine.read() as tx:
            rows = await tx.fetch(
                "SELECT id, version FROM incidents WHERE status <> 'resolved' OR resolved_at >= $1",
                require_utc(resolved_since, "resolved_since"),
            )
        return {r["id"]: int(r["version"]) for r in rows}

    async def get_many(self, ids: Iterable[str]) -> builtins.list[Incident]:
        wanted = builtins.list(dict.fromkeys(ids))
        found: builtins.list[Incident] = []
        async with self._engine.read() as tx:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
                rows = await tx.fetch(f"SELECT * FROM incidents WHERE id IN ({marks})", *chunk)
                found.extend(_incident(r) for r in rows)
        return found

    def _place_columns(self) -> str:
        """The incident's ``site`` and ``system`` labels as columns of those names ("" when it has none)."""
        text = self._engine.json_text
        site = text.format(column="labels", key="site")
        system = text.format(column="labels", key="system")
        return f"COALESCE({site}, '') AS site, COALESCE({system}, '') AS system"

    async def count_open_by(self) -> dict[IncidentGroup, int]:
        async with self._engine.read() as tx:
            rows = await tx.fetch(
                f"SELECT {self._place_columns()}, severity, category, COUNT(*) AS n FROM incidents "
                "WHERE status <> 'resolved' GROUP BY site, system, severity, category"
            )
        groups: dict[IncidentGroup, int] = {}
        for r in rows:
            group = IncidentGroup(r["site"], r["system"], Severity(r["severity"]), Category(r["category"]))
            groups[group] = int(r["n"])
        return groups

    async def incident_activity(
        self, *, opened_since: datetime, ids: Iterable[str] = ()
    ) -> builtins.list[IncidentTimes]:
        since = require_utc(opened_since, "opened_since")
        wanted = builtins.list(dict.fromkeys(ids))
        cols = (
            f"SELECT id, severity, category, opened_at, acknowledged_at, resolved_at, {self._place_columns()} "
            "FROM incidents"
        )
        rows: builtins.list[Row] = []
        async with self._engine.read() as tx:
            # three indexed lookups (the partial index of unresolved incidents, opened_at, the primary key);
            # one "OR" of them could make a planner scan the table
            rows += await tx.fetch(f"{cols} WHERE status <> 'resolved'")
            rows += await tx.fetch(f"{cols} WHERE opened_at >= $1", since)
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
                rows += await tx.fetch(f"{cols} WHERE id IN ({marks})", *chunk)
        found: dict[str, IncidentTimes] = {}
        for r in rows:
            times = IncidentTimes(
                id=r["id"],
                severity=Severity(r["severity"]),
                category=Category(r["category"]),
                opened_at=decode_time(r["opened_at"]),
                acknowledged_at=decode_time_or_none(r["acknowledged_at"]),
                resolved_at=decode_time_or_none(r["resolved_at"]),
                site=r["site"],
                system=r["system"],
            )
            # the statements may see different moments (PostgreSQL, READ COMMITTED): keep the furthest along
            if _progress(times) >= _progress(found.get(times.id)):
                found[times.id] = times
        return builtins.list(found.values())


def _progress(times: IncidentTimes | None) -> tuple[bool, bool]:
    if times is None:
        return (False, False)
    return (times.resolved_at is not None, times.acknowledged_at is not None)
