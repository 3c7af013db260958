"""Maintenance windows: matchers + start/end + author + reason; alerts inside them page nobody."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from alerting.model import MaintenanceWindow, Matcher
from alerting.store.audit import AuditMixin
from alerting.store.engine import Engine, Row, Tx
from alerting.store.errors import MaintenanceWindowNotFound
from alerting.store.rows import window_from_row
from alerting.store.transitions import require_utc


class MaintenanceMixin(AuditMixin):
    _engine: Engine

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

    async def list_maintenance(self, *, active_at: datetime | None = None) -> list[MaintenanceWindow]:
        async with self._engine.read() as tx:
            if active_at is None:
                rows = await tx.fetch("SELECT * FROM maintenance_windows ORDER BY starts_at, id")
            else:
                rows = await self._active_rows(tx, require_utc(active_at, "active_at"))
        return [window_from_row(r) for r in rows]

    async def _active_rows(self, tx: Tx, now: datetime) -> list[Row]:
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
            window = window_from_row(row)
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

    async def active_maintenance(self, labels: Mapping[str, str], now: datetime) -> list[MaintenanceWindow]:
        now = require_utc(now)
        async with self._engine.read() as tx:
            rows = await self._active_rows(tx, now)
        return [w for w in map(window_from_row, rows) if w.matches(labels)]
