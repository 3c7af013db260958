"""The notification outbox: a page is written before it is sent; claims are compare-and-set."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from alerting.model import OutboxItem, OutboxStatus, TimelineKind
from alerting.store.engine import Engine, Row, Tx
from alerting.store.errors import ClaimLost, OutboxItemNotFound
from alerting.store.rows import outbox_item_from_row, plain
from alerting.store.timeline import append_timeline
from alerting.store.transitions import NewEntry, require_utc


class OutboxMixin:
    _engine: Engine

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
                plain(payload),
                due_at,
                now,
            )
            if row is not None:
                return outbox_item_from_row(row), True
            existing = await tx.fetchrow("SELECT * FROM outbox WHERE key = $1", key)
        assert existing is not None
        return outbox_item_from_row(existing), False

    async def claim_due(
        self, worker: str, *, now: datetime, limit: int = 10, lease_seconds: float = 60.0
    ) -> list[OutboxItem]:
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
        return sorted((outbox_item_from_row(r) for r in rows), key=lambda item: (item.due_at, item.id))

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
                await append_timeline(
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
                await append_timeline(
                    tx, item.incident_id, now, [NewEntry(TimelineKind.NOTIFY_FAILED, worker, details)]
                )
        return item

    async def _claimed(self, tx: Tx, item_id: int, worker: str, row: Row | None) -> OutboxItem:
        if row is not None:
            return outbox_item_from_row(row)
        current = await tx.fetchrow("SELECT status, claimed_by FROM outbox WHERE id = $1", item_id)
        if current is None:
            raise OutboxItemNotFound(item_id)
        raise ClaimLost(
            f"outbox item {item_id} is {current['status']} (claimed by {current['claimed_by']!r}), not held by {worker!r}"
        )

    async def outbox(
        self, *, status: OutboxStatus | None = None, incident_id: str | None = None, limit: int = 100
    ) -> list[OutboxItem]:
        where: list[str] = []
        args: list[Any] = []
        for column, wanted in (("status", status.value if status else None), ("incident_id", incident_id)):
            if wanted is not None:
                args.append(wanted)
                where.append(f"{column} = ${len(args)}")
        args.append(limit)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        async with self._engine.read() as tx:
            rows = await tx.fetch(f"SELECT * FROM outbox {clause} ORDER BY id LIMIT ${len(args)}", *args)
        return [outbox_item_from_row(r) for r in rows]
