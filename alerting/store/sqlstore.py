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
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Self

from alerting.model import (
    Acknowledge,
    Action,
    Alert,
    AuditCheck,
    AuditEntry,
    Category,
    Comment,
    Incident,
    MaintenanceWindow,
    Matcher,
    OutboxItem,
    OutboxStatus,
    Resolve,
    Severity,
    Source,
    Status,
    TimelineEntry,
    TimelineKind,
)
from alerting.store.engine import Engine, Row, Tx, decode_json, decode_time, decode_time_or_none
from alerting.store.errors import (
    ClaimLost,
    IncidentNotFound,
    MaintenanceWindowNotFound,
    OutboxItemNotFound,
    StoreError,
    VersionConflict,
)
from alerting.store.transitions import (
    AUDITED_KINDS,
    GENESIS_HASH,
    NewEntry,
    apply_actions,
    audit_hash,
    canonical_json,
    incident_number,
    require_utc,
)

_INSERT_ATTEMPTS = 5


class _LostRace(Exception):
    """Another writer opened the fingerprint's incident first: roll back and touch theirs."""


class SqlIncidentStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
                    return await self._insert(tx, alert, now), True
            except _LostRace:
                continue
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
            last_seen_at=now,
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
            now,
            changed.severity.value,
            changed.version,
        )
        await self._add_entries(tx, inc.id, now, entries)
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
        await self._add_entries(tx, inc.id, now, [NewEntry(TimelineKind.FIRED, alert.opened_by, details)])
        return inc

    async def resolve_by_fingerprint(
        self, fingerprint: str, now: datetime, by: str = "system"
    ) -> Incident | None:
        now = require_utc(now)
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT * FROM incidents WHERE fingerprint = $1 AND status <> 'resolved' {self._engine.for_update}",
                fingerprint,
            )
            if row is None:
                return None
            return await self._apply_in(tx, _incident(row), None, [Resolve(by=by)], now)

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
        limit: int = 100,
    ) -> builtins.list[Incident]:
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        for column, wanted in (("status", status), ("severity", severity), ("category", category)):
            if wanted is None:
                continue
            values = [wanted.value] if isinstance(wanted, str) else [w.value for w in wanted]
            if not values:
                return []
            marks = ", ".join(f"${len(args) + i + 1}" for i in range(len(values)))
            where.append(f"{column} IN ({marks})")
            args.extend(values)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        args.append(limit)
        async with self._engine.read() as tx:
            rows = await tx.fetch(
                f"SELECT * FROM incidents {clause} ORDER BY opened_at DESC, number DESC LIMIT ${len(args)}",
                *args,
            )
        return [_incident(r) for r in rows]

    async def acknowledge(self, incident_id: str, by: str, now: datetime) -> Incident:
        return await self._apply(incident_id, None, [Acknowledge(by=by)], now)

    async def resolve(self, incident_id: str, by: str, now: datetime) -> Incident:
        return await self._apply(incident_id, None, [Resolve(by=by)], now)

    async def comment(self, incident_id: str, by: str, text: str, now: datetime) -> TimelineEntry:
        await self._apply(incident_id, None, [Comment(by=by, text=text)], now)
        entries = await self.timeline(incident_id)
        return next(e for e in reversed(entries) if e.kind is TimelineKind.COMMENT)

    async def apply(
        self, incident_id: str, expected_version: int, actions: Sequence[Action], *, now: datetime
    ) -> Incident:
        return await self._apply(incident_id, expected_version, actions, now)

    async def _apply(
        self, ref: str, expected_version: int | None, actions: Sequence[Action], now: datetime
    ) -> Incident:
        now = require_utc(now)
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT * FROM incidents WHERE id = $1 OR number = $1 {self._engine.for_update}", ref
            )
            if row is None:
                raise IncidentNotFound(ref)
            return await self._apply_in(tx, _incident(row), expected_version, actions, now)

    async def _apply_in(
        self, tx: Tx, inc: Incident, expected_version: int | None, actions: Sequence[Action], now: datetime
    ) -> Incident:
        if expected_version is not None and inc.version != expected_version:
            raise VersionConflict(inc.id, expected_version, inc.version)
        new, entries = apply_actions(inc, actions, now)
        if new.parent_id is not None and new.parent_id != inc.parent_id:
            parent = await tx.fetchrow("SELECT id FROM incidents WHERE id = $1", new.parent_id)
            if parent is None:
                raise IncidentNotFound(new.parent_id)
        if new.version == inc.version:
            return inc
        updated = await tx.execute(
            "UPDATE incidents SET status = $3, acknowledged_at = $4, acknowledged_by = $5, resolved_at = $6, "
            "resolved_by = $7, parent_id = $8, flapping = $9, escalation_level = $10, last_escalated_at = $11, "
            "version = $12 WHERE id = $1 AND version = $2",
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
        )
        if updated != 1:
            current = await tx.fetchrow("SELECT version FROM incidents WHERE id = $1", inc.id)
            raise VersionConflict(inc.id, inc.version, int(current["version"]) if current else -1)
        await self._add_entries(tx, inc.id, now, entries)
        for entry in entries:
            if entry.kind in AUDITED_KINDS:
                await self._append_audit(
                    tx,
                    actor=entry.actor,
                    action=AUDITED_KINDS[entry.kind],
                    target=inc.number,
                    details=entry.details,
                    now=now,
                )
        return new

    async def _add_entries(
        self, tx: Tx, incident_id: str, now: datetime, entries: Sequence[NewEntry]
    ) -> builtins.list[TimelineEntry]:
        added = []
        for e in entries:
            row = await tx.fetchrow(
                "INSERT INTO timeline (incident_id, at, kind, actor, details) VALUES ($1, $2, $3, $4, $5) "
                "RETURNING id",
                incident_id,
                now,
                e.kind.value,
                e.actor,
                _plain(e.details),
            )
            assert row is not None
            added.append(
                TimelineEntry(
                    id=int(row["id"]),
                    incident_id=incident_id,
                    at=now,
                    kind=e.kind,
                    actor=e.actor,
                    details=_plain(e.details),
                )
            )
        return added

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

    async def count_open_by(self) -> dict[tuple[Severity, Category], int]:
        async with self._engine.read() as tx:
            rows = await tx.fetch(
                "SELECT severity, category, COUNT(*) AS n FROM incidents WHERE status <> 'resolved' "
                "GROUP BY severity, category"
            )
        return {(Severity(r["severity"]), Category(r["category"])): int(r["n"]) for r in rows}

    # ------------------------------------------------------------------ maintenance windows

    async def add_maintenance(
        self,
        *,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        author: str,
        reason: str,
        now: datetime,
    ) -> MaintenanceWindow:
        starts_at, ends_at, now = (
            require_utc(starts_at, "starts_at"),
            require_utc(ends_at, "ends_at"),
            require_utc(now),
        )
        if ends_at <= starts_at:
            raise ValueError("a maintenance window must end after it starts")
        if not matchers:
            raise ValueError("a maintenance window needs at least one matcher (it would silence everything)")
        if not author.strip() or not reason.strip():
            raise ValueError("a maintenance window needs an author and a reason")
        window = MaintenanceWindow(
            id=str(uuid.uuid4()),
            matchers=tuple(matchers),
            starts_at=starts_at,
            ends_at=ends_at,
            author=author,
            reason=reason,
            created_at=now,
        )
        encoded = [[m.name, m.op, m.value] for m in window.matchers]
        async with self._engine.transaction() as tx:
            await tx.execute(
                "INSERT INTO maintenance_windows (id, matchers, starts_at, ends_at, author, reason, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                window.id,
                encoded,
                starts_at,
                ends_at,
                author,
                reason,
                now,
            )
            await self._append_audit(
                tx,
                actor=author,
                action="maintenance.add",
                target=window.id,
                details={
                    "matchers": encoded,
                    "starts_at": starts_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                    "reason": reason,
                },
                now=now,
            )
        return window

    async def list_maintenance(
        self, *, active_at: datetime | None = None
    ) -> builtins.list[MaintenanceWindow]:
        async with self._engine.read() as tx:
            if active_at is None:
                rows = await tx.fetch("SELECT * FROM maintenance_windows ORDER BY starts_at, id")
            else:
                rows = await self._active_rows(tx, require_utc(active_at, "active_at"))
        return [_window(r) for r in rows]

    async def _active_rows(self, tx: Tx, now: datetime) -> builtins.list[Row]:
        return await tx.fetch(
            "SELECT * FROM maintenance_windows WHERE starts_at <= $1 AND ends_at > $1 "
            "AND (ended_at IS NULL OR ended_at > $1) ORDER BY starts_at, id",
            now,
        )

    async def end_maintenance(self, window_id: str, by: str, now: datetime) -> MaintenanceWindow:
        now = require_utc(now)
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT * FROM maintenance_windows WHERE id = $1 {self._engine.for_update}", window_id
            )
            if row is None:
                raise MaintenanceWindowNotFound(window_id)
            window = _window(row)
            if window.ended_at is not None:
                return window
            window = dataclasses.replace(window, ended_at=now, ended_by=by)
            await tx.execute(
                "UPDATE maintenance_windows SET ended_at = $2, ended_by = $3 WHERE id = $1",
                window_id,
                now,
                by,
            )
            await self._append_audit(
                tx, actor=by, action="maintenance.end", target=window_id, details={}, now=now
            )
        return window

    async def active_maintenance(
        self, labels: Mapping[str, str], now: datetime
    ) -> builtins.list[MaintenanceWindow]:
        now = require_utc(now)
        async with self._engine.read() as tx:
            rows = await self._active_rows(tx, now)
        return [w for w in map(_window, rows) if w.matches(labels)]

    # ------------------------------------------------------------------ outbox

    async def enqueue_notification(
        self,
        key: str,
        *,
        channel: str,
        target: str,
        payload: Mapping[str, Any],
        due_at: datetime,
        now: datetime,
        incident_id: str | None = None,
    ) -> tuple[OutboxItem, bool]:
        due_at, now = require_utc(due_at, "due_at"), require_utc(now)
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO outbox (key, incident_id, channel, target, payload, status, due_at, created_at) "
                "VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) ON CONFLICT (key) DO NOTHING RETURNING *",
                key,
                incident_id,
                channel,
                target,
                _plain(payload),
                due_at,
                now,
            )
            if row is not None:
                return _outbox(row), True
            existing = await tx.fetchrow("SELECT * FROM outbox WHERE key = $1", key)
        assert existing is not None
        return _outbox(existing), False

    async def claim_due(
        self, worker: str, *, now: datetime, limit: int = 10, lease_seconds: float = 60.0
    ) -> builtins.list[OutboxItem]:
        now = require_utc(now)
        claimable = (
            "((status = 'pending' AND due_at <= $1) OR (status = 'claimed' AND claim_expires_at <= $1))"
        )
        async with self._engine.transaction() as tx:
            rows = await tx.fetch(
                f"UPDATE outbox SET status = 'claimed', claimed_by = $2, claim_expires_at = $3, "
                f"attempts = attempts + 1 WHERE {claimable} AND id IN ("
                f"SELECT id FROM outbox WHERE {claimable} ORDER BY due_at, id LIMIT $4 {self._engine.skip_locked}"
                f") RETURNING *",
                now,
                worker,
                now + timedelta(seconds=lease_seconds),
                limit,
            )
        return sorted((_outbox(r) for r in rows), key=lambda item: (item.due_at, item.id))

    async def mark_delivered(self, item_id: int, *, worker: str, now: datetime) -> OutboxItem:
        now = require_utc(now)
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE outbox SET status = 'delivered', delivered_at = $3, claim_expires_at = NULL "
                "WHERE id = $1 AND status = 'claimed' AND claimed_by = $2 RETURNING *",
                item_id,
                worker,
                now,
            )
            item = await self._claimed(tx, item_id, worker, row)
            if item.incident_id is not None:
                details = {
                    "channel": item.channel,
                    "target": item.target,
                    "key": item.key,
                    "attempt": item.attempts,
                }
                await self._add_entries(
                    tx, item.incident_id, now, [NewEntry(TimelineKind.NOTIFIED, worker, details)]
                )
        return item

    async def mark_failed(
        self, item_id: int, *, worker: str, now: datetime, error: str, next_attempt_at: datetime | None
    ) -> OutboxItem:
        now = require_utc(now)
        if next_attempt_at is None:
            status, due = OutboxStatus.DEAD.value, None
        else:
            status, due = OutboxStatus.PENDING.value, require_utc(next_attempt_at, "next_attempt_at")
        async with self._engine.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE outbox SET status = $3, last_error = $4, due_at = COALESCE($5, due_at), "
                "claim_expires_at = NULL WHERE id = $1 AND status = 'claimed' AND claimed_by = $2 RETURNING *",
                item_id,
                worker,
                status,
                error,
                due,
            )
            item = await self._claimed(tx, item_id, worker, row)
            if item.incident_id is not None:
                details = {
                    "channel": item.channel,
                    "target": item.target,
                    "key": item.key,
                    "attempt": item.attempts,
                    "error": error,
                    "next_attempt_at": due.isoformat() if due else None,
                }
                await self._add_entries(
                    tx, item.incident_id, now, [NewEntry(TimelineKind.NOTIFY_FAILED, worker, details)]
                )
        return item

    async def _claimed(self, tx: Tx, item_id: int, worker: str, row: Row | None) -> OutboxItem:
        if row is not None:
            return _outbox(row)
        current = await tx.fetchrow("SELECT status, claimed_by FROM outbox WHERE id = $1", item_id)
        if current is None:
            raise OutboxItemNotFound(item_id)
        raise ClaimLost(
            f"outbox item {item_id} is {current['status']} (claimed by {current['claimed_by']!r}), not held by {worker!r}"
        )

    async def outbox(
        self, *, status: OutboxStatus | None = None, incident_id: str | None = None, limit: int = 100
    ) -> builtins.list[OutboxItem]:
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        for column, wanted in (("status", status.value if status else None), ("incident_id", incident_id)):
            if wanted is not None:
                args.append(wanted)
                where.append(f"{column} = ${len(args)}")
        args.append(limit)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        async with self._engine.read() as tx:
            rows = await tx.fetch(f"SELECT * FROM outbox {clause} ORDER BY id LIMIT ${len(args)}", *args)
        return [_outbox(r) for r in rows]

    # ------------------------------------------------------------------ audit log

    async def append_audit(
        self, *, actor: str, action: str, target: str, details: Mapping[str, Any], now: datetime
    ) -> AuditEntry:
        now = require_utc(now)
        async with self._engine.transaction() as tx:
            return await self._append_audit(
                tx, actor=actor, action=action, target=target, details=details, now=now
            )

    async def _append_audit(
        self, tx: Tx, *, actor: str, action: str, target: str, details: Mapping[str, Any], now: datetime
    ) -> AuditEntry:
        if self._engine.lock_audit:
            await tx.execute(self._engine.lock_audit)
        last = await tx.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        seq = 1 if last is None else int(last["seq"]) + 1
        prev = GENESIS_HASH if last is None else str(last["hash"])
        details_json = canonical_json(details)
        digest = audit_hash(
            prev, seq=seq, at=now, actor=actor, action=action, target=target, details_json=details_json
        )
        await tx.execute(
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            seq,
            now,
            actor,
            action,
            target,
            details_json,
            prev,
            digest,
        )
        return AuditEntry(
            seq=seq,
            at=now,
            actor=actor,
            action=action,
            target=target,
            details=decode_json(details_json),
            prev_hash=prev,
            hash=digest,
        )

    async def audit_log(self, *, limit: int = 100, after_seq: int = 0) -> builtins.list[AuditEntry]:
        async with self._engine.read() as tx:
            rows = await tx.fetch(
                "SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after_seq, limit
            )
        return [_audit(r) for r in rows]

    async def verify_audit_chain(self) -> AuditCheck:
        """Walk the whole chain: sequence numbers 1, 2, 3, ..., each prev_hash the hash before, each hash right."""
        prev, expected_seq, rows = GENESIS_HASH, 1, 0
        page = 1000
        while True:
            async with self._engine.read() as tx:
                batch = await tx.fetch(
                    "SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2", expected_seq, page
                )
            for r in batch:
                seq = int(r["seq"])
                if seq != expected_seq:
                    return AuditCheck(False, rows, expected_seq, f"row {expected_seq} is missing")
                if r["prev_hash"] != prev:
                    return AuditCheck(False, rows, seq, f"row {seq} does not follow row {seq - 1}")
                digest = audit_hash(
                    prev,
                    seq=seq,
                    at=decode_time(r["at"]),
                    actor=r["actor"],
                    action=r["action"],
                    target=r["target"],
                    details_json=r["details"],
                )
                if digest != r["hash"]:
                    return AuditCheck(False, rows, seq, f"row {seq} was altered (hash mismatch)")
                prev, expected_seq, rows = digest, expected_seq + 1, rows + 1
            if len(batch) < page:
                return AuditCheck(True, rows)


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy (enums to values, datetimes to ISO text), so what is stored is what is returned."""
    return decode_json(canonical_json(value))


def _incident(r: Row) -> Incident:
    return Incident(
        id=r["id"],
        number=r["number"],
        title=r["title"],
        severity=Severity(r["severity"]),
        category=Category(r["category"]),
        status=Status(r["status"]),
        source=Source(r["source"]),
        fingerprint=r["fingerprint"],
        rule=r["rule"],
        labels=decode_json(r["labels"]),
        assets=tuple(decode_json(r["assets"])),
        value=r["value"],
        summary=r["summary"],
        description=r["description"],
        plan_url=r["plan_url"],
        opened_at=decode_time(r["opened_at"]),
        opened_by=r["opened_by"],
        last_seen_at=decode_time(r["last_seen_at"]),
        acknowledged_at=decode_time_or_none(r["acknowledged_at"]),
        acknowledged_by=r["acknowledged_by"],
        resolved_at=decode_time_or_none(r["resolved_at"]),
        resolved_by=r["resolved_by"],
        parent_id=r["parent_id"],
        flapping=bool(r["flapping"]),
        escalation_level=int(r["escalation_level"]),
        last_escalated_at=decode_time_or_none(r["last_escalated_at"]),
        version=int(r["version"]),
    )


def _window(r: Row) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=r["id"],
        matchers=tuple(Matcher(name, op, value) for name, op, value in decode_json(r["matchers"])),
        starts_at=decode_time(r["starts_at"]),
        ends_at=decode_time(r["ends_at"]),
        author=r["author"],
        reason=r["reason"],
        created_at=decode_time(r["created_at"]),
        ended_at=decode_time_or_none(r["ended_at"]),
        ended_by=r["ended_by"],
    )


def _outbox(r: Row) -> OutboxItem:
    return OutboxItem(
        id=int(r["id"]),
        key=r["key"],
        incident_id=r["incident_id"],
        channel=r["channel"],
        target=r["target"],
        payload=decode_json(r["payload"]),
        status=OutboxStatus(r["status"]),
        due_at=decode_time(r["due_at"]),
        attempts=int(r["attempts"]),
        claimed_by=r["claimed_by"],
        claim_expires_at=decode_time_or_none(r["claim_expires_at"]),
        last_error=r["last_error"],
        delivered_at=decode_time_or_none(r["delivered_at"]),
        created_at=decode_time(r["created_at"]),
    )


def _audit(r: Row) -> AuditEntry:
    return AuditEntry(
        seq=int(r["seq"]),
        at=decode_time(r["at"]),
        actor=r["actor"],
        action=r["action"],
        target=r["target"],
        details=decode_json(r["details"]),
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )
