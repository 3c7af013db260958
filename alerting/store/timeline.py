"""Appending to an incident's timeline (append-only: the tables refuse UPDATE and DELETE)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from alerting.model import TimelineEntry
from alerting.store.engine import Tx
from alerting.store.rows import plain
from alerting.store.transitions import NewEntry


async def append_timeline(
    tx: Tx, incident_id: str, now: datetime, entries: Sequence[NewEntry]
) -> list[TimelineEntry]:
    added = []
    for e in entries:
        row = await tx.fetchrow(
            "INSERT INTO timeline (incident_id, at, kind, actor, details) VALUES ($1, $2, $3, $4, $5) "
            "RETURNING id",
            incident_id,
            now,
            e.kind.value,
            e.actor,
            plain(e.details),
        )
        assert row is not None
        added.append(
            TimelineEntry(
                id=int(row["id"]),
                incident_id=incident_id,
                at=now,
                kind=e.kind,
                actor=e.actor,
                details=plain(e.details),
            )
        )
    return added
