"""Rows to model objects (both engines: times may come back as text or datetime, JSON as text or objects)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerting.model import (
    AuditEntry,
    Category,
    Incident,
    MaintenanceWindow,
    Matcher,
    OutboxItem,
    OutboxStatus,
    Severity,
    Source,
    Status,
)
from alerting.store.engine import Row, decode_json, decode_time, decode_time_or_none
from alerting.store.transitions import canonical_json


def plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy (enums to values, datetimes to ISO text), so what is stored is what is returned."""
    return decode_json(canonical_json(value))


def incident_from_row(r: Row) -> Incident:
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
        escalation_state=decode_json(r["escalation_state"]),
        version=int(r["version"]),
    )


def window_from_row(r: Row) -> MaintenanceWindow:
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


def outbox_item_from_row(r: Row) -> OutboxItem:
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


def audit_entry_from_row(r: Row) -> AuditEntry:
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
