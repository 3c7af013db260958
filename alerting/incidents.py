"""Small incident operations shared by the rule runner and the intake API, over the store protocol."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from alerting.model import Incident, MaintenanceWindow, Status
from alerting.store import IncidentStore

OPEN_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED)


async def find_open_incident(
    store: IncidentStore, fingerprint: str, *, known_id: str | None = None
) -> Incident | None:
    """The open incident of ``fingerprint`` (``known_id`` first, as it is the usual answer), or None."""
    if known_id is not None:
        inc = await store.get(known_id)
        if inc.is_open and inc.fingerprint == fingerprint:
            return inc
    found = await store.list(status=OPEN_STATUSES, fingerprint=fingerprint, limit=1)
    return found[0] if found else None


async def note_maintenance(
    store: IncidentStore, incident: Incident, labels: Mapping[str, str], now: datetime
) -> MaintenanceWindow | None:
    """If a maintenance window covers ``labels`` now, say so in the new incident's timeline (the incident is
    recorded; escalation pages nobody for it). Returns the window."""
    windows = await store.active_maintenance(labels, now)
    if not windows:
        return None
    w = windows[0]
    await store.comment(
        incident.id,
        "system",
        f"inside maintenance window {w.id} ({w.reason}, by {w.author}, until {w.ends_at.isoformat()}): "
        "recorded, pages nobody",
        now,
    )
    return w
