"""One ``IncidentStore`` protocol; SQLite and PostgreSQL implement it and one contract test suite runs both."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, Self

from alerting.model import (
    Action,
    Alert,
    AuditCheck,
    AuditEntry,
    Category,
    Incident,
    MaintenanceWindow,
    Matcher,
    OutboxItem,
    OutboxStatus,
    Severity,
    Status,
    TimelineEntry,
)


@dataclass(frozen=True)
class IncidentTimes:
    """The few columns of an incident that the collector's incident counters need (no text but the incident's
    ``site`` and ``system`` labels, "" when it has none)."""

    id: str
    severity: Severity
    category: Category
    opened_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    site: str = ""
    system: str = ""


class IncidentGroup(NamedTuple):
    """One group of ``count_open_by``: the incidents' ``site`` and ``system`` labels ("" when they have none),
    severity and category."""

    site: str
    system: str
    severity: Severity
    category: Category


class IncidentStore(Protocol):
    # --- life cycle ---
    async def close(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...

    def subscribe(self, listener: Callable[[Incident], None]) -> Callable[[], None]:
        """Call ``listener(incident)`` (synchronously; it must be cheap) after each committed write of this
        store object that opened an incident or changed its state (acknowledge, resolve, escalate, ...).
        Returns a function that removes the listener. Writes by other processes are not seen."""
        ...

    # --- incidents ---
    async def open_or_touch(self, alert: Alert, now: datetime) -> tuple[Incident, bool]:
        """The open incident for ``alert.fingerprint`` (touched: value, last seen), or a new one (created=True).

        Exactly one open incident per fingerprint, however many writers race."""
        ...

    async def resolve_by_fingerprint(
        self, fingerprint: str, now: datetime, by: str = "system"
    ) -> Incident | None:
        """Resolve the open incident for ``fingerprint``; None when there is none."""
        ...

    async def get(self, ref: str) -> Incident:
        """By id or by number (``INC-2026-000001``); raises ``IncidentNotFound``."""
        ...

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
        """Newest first. ``fingerprint`` + ``opened_since`` give a fingerprint's recent history (flapping)."""
        ...

    async def acknowledge(self, incident_id: str, by: str, now: datetime) -> Incident: ...
    async def resolve(self, incident_id: str, by: str, now: datetime) -> Incident: ...
    async def comment(self, incident_id: str, by: str, text: str, now: datetime) -> TimelineEntry: ...

    async def apply(
        self, incident_id: str, expected_version: int, actions: Sequence[Action], *, now: datetime
    ) -> Incident:
        """Apply ``actions`` in order if the incident is still at ``expected_version``; else ``VersionConflict``."""
        ...

    async def timeline(self, incident_id: str) -> builtins.list[TimelineEntry]: ...

    async def escalation_candidates(self, *, resolved_since: datetime) -> dict[str, int]:
        """Id -> version of every unresolved incident and of those resolved since ``resolved_since``: what the
        escalation loop may still have to page or tell stakeholders about. Cheap: two columns, no parsing."""
        ...

    async def get_many(self, ids: Iterable[str]) -> builtins.list[Incident]:
        """The incidents with these ids (unknown ids are left out), in no particular order."""
        ...

    async def count_open_by(self) -> dict[IncidentGroup, int]:
        """Unresolved incidents per (site, system, severity, category), for ``wardwatch_incidents_open``; only
        the groups that have some."""
        ...

    async def incident_activity(
        self, *, opened_since: datetime, ids: Iterable[str] = ()
    ) -> builtins.list[IncidentTimes]:
        """The incidents that may have changed since the caller last looked: every unresolved one, those opened
        at or after ``opened_since``, and those with these ``ids`` (the ones the caller saw unresolved; unknown
        ids are left out). One row each, in no particular order. Index lookups only, never a scan of the whole
        history: what ``wardwatch_incidents_opened_total`` and the MTTA/MTTR summaries are counted from."""
        ...

    # --- maintenance windows ---
    async def add_maintenance(
        self,
        *,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        author: str,
        reason: str,
        now: datetime,
    ) -> MaintenanceWindow: ...

    async def list_maintenance(
        self, *, active_at: datetime | None = None
    ) -> builtins.list[MaintenanceWindow]: ...
    async def end_maintenance(self, window_id: str, by: str, now: datetime) -> MaintenanceWindow: ...
    async def active_maintenance(
        self, labels: Mapping[str, str], now: datetime
    ) -> builtins.list[MaintenanceWindow]: ...

    # --- notification outbox ---
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
        """Idempotent on ``key``: a second enqueue returns the first item and ``False``."""
        ...

    async def claim_due(
        self, worker: str, *, now: datetime, limit: int = 10, lease_seconds: float = 60.0
    ) -> builtins.list[OutboxItem]:
        """Claim up to ``limit`` due items (pending, or claimed with an expired lease); never the same to two."""
        ...

    async def mark_delivered(self, item_id: int, *, worker: str, now: datetime) -> OutboxItem: ...

    async def mark_failed(
        self, item_id: int, *, worker: str, now: datetime, error: str, next_attempt_at: datetime | None
    ) -> OutboxItem:
        """Back to pending at ``next_attempt_at``, or ``dead`` when it is None."""
        ...

    async def outbox(
        self, *, status: OutboxStatus | None = None, incident_id: str | None = None, limit: int = 100
    ) -> builtins.list[OutboxItem]: ...

    # --- audit log ---
    async def append_audit(
        self, *, actor: str, action: str, target: str, details: Mapping[str, Any], now: datetime
    ) -> AuditEntry: ...

    async def audit_log(self, *, limit: int = 100, after_seq: int = 0) -> builtins.list[AuditEntry]: ...
    async def verify_audit_chain(self) -> AuditCheck: ...
