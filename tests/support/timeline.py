"""Reading an incident's timeline in tests."""

from __future__ import annotations

from collections.abc import Iterable

from alerting.model import TimelineEntry, TimelineKind

DELIVERY = (TimelineKind.NOTIFIED, TimelineKind.NOTIFY_FAILED)


def life(entries: Iterable[TimelineEntry]) -> list[TimelineKind]:
    """The incident's own history: the timeline's kinds without the outbox's delivery lines, which interleave
    with it and may follow the resolution (the stakeholders' "resolved" update)."""
    return [e.kind for e in entries if e.kind not in DELIVERY]
