"""A real SQLite store in tmp_path with one open incident."""

from __future__ import annotations

from datetime import datetime

from alerting.model import Alert, Category, Incident, Severity, Source, fingerprint_for
from alerting.store import IncidentStore


async def open_incident(
    store: IncidentStore, now: datetime, *, title: str = "HIS 数据库磁盘 95%"
) -> Incident:
    labels = {"host": "his-db-01", "site": "总院", "system": "HIS"}
    alert = Alert(
        fingerprint=fingerprint_for("disk_full", {**labels, "title": title}),
        rule="disk_full",
        title=title,
        severity=Severity.CRITICAL,
        category=Category.SYSTEM_FAILURE,
        source=Source.RULE,
        starts_at=now,
        labels=labels,
        assets=("his-db-01",),
        summary="/data 95% used",
        plan_url="https://wiki.hosp/plans/his-db",
    )
    incident, created = await store.open_or_touch(alert, now)
    assert created
    return incident
