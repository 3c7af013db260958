"""The alerting vocabulary: frozen dataclasses and closed enums, no I/O.

Times are tz-aware UTC datetimes. Mappings inside the frozen dataclasses are plain ``dict``s: treat them as
read-only (the store never mutates what it hands out).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"

    @property
    def priority(self) -> str:
        """``P1`` (critical) to ``P4`` (warning)."""
        return _PRIORITY[self]

    @classmethod
    def from_priority(cls, priority: str) -> Severity:
        for severity, p in _PRIORITY.items():
            if p == priority.strip().upper():
                return severity
        raise ValueError(f"unknown priority {priority!r}: expected one of P1, P2, P3, P4")


_PRIORITY = {
    Severity.CRITICAL: "P1",
    Severity.MAJOR: "P2",
    Severity.MINOR: "P3",
    Severity.WARNING: "P4",
}


class Category(StrEnum):
    """The four kinds of emergency the hospital plans for, plus everything else."""

    SYSTEM_FAILURE = "system_failure"
    NETWORK_OUTAGE = "network_outage"
    DATA_LOSS = "data_loss"
    SECURITY_EVENT = "security_event"
    OTHER = "other"


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Source(StrEnum):
    RULE = "rule"
    TRAP = "trap"
    ALERTMANAGER = "alertmanager"
    API = "api"
    MANUAL = "manual"
    DRILL = "drill"


class TimelineKind(StrEnum):
    FIRED = "fired"
    VALUE_UPDATED = "value_updated"
    SEVERITY_CHANGED = "severity_changed"
    NOTIFIED = "notified"
    NOTIFY_FAILED = "notify_failed"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    COMMENT = "comment"
    FLAPPING_STARTED = "flapping_started"
    FLAPPING_STOPPED = "flapping_stopped"
    ATTACHED = "attached"
    DETACHED = "detached"
    RESOLVED = "resolved"


def fingerprint_for(rule: str, labels: Mapping[str, str]) -> str:
    """A stable dedup key for ``rule`` + asset labels (order of labels does not matter)."""
    canonical = json.dumps([rule, sorted(labels.items())], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One firing alert as the rules, traps or intake see it; the store turns it into an incident."""

    fingerprint: str
    rule: str
    title: str
    severity: Severity
    category: Category
    source: Source
    starts_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    assets: tuple[str, ...] = ()
    value: float | None = None
    summary: str = ""
    description: str = ""
    plan_url: str | None = None
    opened_by: str = "system"  # who raised it: "system" for rules and traps, a person for manual reports


@dataclass(frozen=True, kw_only=True)
class Incident:
    id: str
    number: str  # INC-YYYY-NNNNNN
    title: str
    severity: Severity
    category: Category
    status: Status
    source: Source
    fingerprint: str
    rule: str
    labels: dict[str, str]
    assets: tuple[str, ...]
    value: float | None
    summary: str
    description: str
    plan_url: str | None
    opened_at: datetime
    opened_by: str
    last_seen_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    parent_id: str | None = None  # dependency suppression: attached to the parent's incident
    flapping: bool = False
    escalation_level: int = 0
    last_escalated_at: datetime | None = None
    escalation_state: dict[str, Any] = field(default_factory=dict)  # owned by the escalation engine (JSON)
    version: int = 1  # bumped by every state change; ``apply`` compares and sets it

    @property
    def is_open(self) -> bool:
        return self.status is not Status.RESOLVED


@dataclass(frozen=True, kw_only=True)
class TimelineEntry:
    """One append-only line of an incident's history."""

    id: int
    incident_id: str
    at: datetime
    kind: TimelineKind
    actor: str
    details: dict[str, Any] = field(default_factory=dict)


_MATCH_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    """A label matcher in Alertmanager's manner: ``=``, ``!=``, ``=~`` and ``!~`` (regex, full match)."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in _MATCH_OPS:
            raise ValueError(
                f"matcher {self.name!r}: unknown operator {self.op!r}, expected one of {_MATCH_OPS}"
            )
        if not self.name:
            raise ValueError("matcher: empty label name")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as err:
                raise ValueError(f"matcher {self.name!r}: bad regex {self.value!r}: {err}") from err

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True, kw_only=True)
class MaintenanceWindow:
    """Alerts whose labels match every matcher between ``starts_at`` and ``ends_at`` page nobody."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    author: str
    reason: str
    created_at: datetime
    ended_at: datetime | None = None  # ended early
    ended_by: str | None = None

    def active_at(self, now: datetime) -> bool:
        end = self.ends_at if self.ended_at is None else min(self.ends_at, self.ended_at)
        return self.starts_at <= now < end

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    DELIVERED = "delivered"
    DEAD = "dead"  # failed for good: no next attempt


@dataclass(frozen=True, kw_only=True)
class OutboxItem:
    """A notification written before it is sent. ``attempts`` counts claims (delivery tries)."""

    id: int
    key: str  # idempotency key, unique
    incident_id: str | None
    channel: str
    target: str
    payload: dict[str, Any]
    status: OutboxStatus
    due_at: datetime
    attempts: int
    claimed_by: str | None
    claim_expires_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditCheck:
    """The result of walking the audit hash chain."""

    ok: bool
    rows: int
    first_bad_seq: int | None = None
    reason: str | None = None


# --- actions: what the engine (or a person) decides; the store applies them with compare-and-set ---


@dataclass(frozen=True)
class Acknowledge:
    kind: ClassVar[str] = "acknowledge"
    by: str


@dataclass(frozen=True)
class Resolve:
    kind: ClassVar[str] = "resolve"
    by: str
    reason: str = ""


@dataclass(frozen=True)
class Comment:
    kind: ClassVar[str] = "comment"
    by: str
    text: str


@dataclass(frozen=True)
class Escalate:
    """Move the incident to escalation level ``to_level`` (and stamp ``last_escalated_at``)."""

    kind: ClassVar[str] = "escalate"
    to_level: int
    by: str = "system"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SetFlapping:
    kind: ClassVar[str] = "set_flapping"
    flapping: bool
    by: str = "system"


@dataclass(frozen=True)
class AttachToParent:
    """Attach to a parent incident (dependency suppression); ``parent_id=None`` detaches."""

    kind: ClassVar[str] = "attach_to_parent"
    parent_id: str | None
    by: str = "system"


@dataclass(frozen=True)
class SaveEscalationState:
    """Persist the escalation engine's own state (policy, level start times, rounds, updates sent) as JSON.

    No timeline line: the engine's visible decisions are ``Escalate`` actions and outbox notifications."""

    kind: ClassVar[str] = "save_escalation_state"
    state: dict[str, Any]


Action = Acknowledge | Resolve | Comment | Escalate | SetFlapping | AttachToParent | SaveEscalationState
