"""End to end in one process: agent reports over HTTP -> state -> default rules -> incident store -> /metrics."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from alerting.clock import FakeClock
from alerting.component import ALERTING
from alerting.escalation_component import ESCALATION
from alerting.model import Category, Severity, Source, Status, TimelineKind
from collector.app import create_app
from tests.collector.conftest import auth, gz, make_settings, report_dict
from tests.support.timeline import life

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "deploy" / "rules"
START = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
BOOT = START.timestamp() - 86400


def report(clock: FakeClock, seq: int, used: int) -> dict[str, Any]:
    body = report_dict(
        timestamp=clock.time(),
        seq=seq,
        filesystems=[
            {
                "mountpoint": "/data",
                "device": "/dev/sdb1",
                "fstype": "xfs",
                "size_bytes": 1000,
                "free_bytes": 1000 - used,
                "used_bytes": used,
            }
        ],
    )
    body["system"] = copy.deepcopy(body["system"]) | {"boot_time_seconds": BOOT}
    return body


async def metric(client, name: str, labels: str) -> float | None:
    text = await (await client.get("/metrics")).text()
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(part in line for part in labels.split(",")):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_a_report_crossing_a_default_rule_opens_one_incident_and_recovery_resolves_it(
    aiohttp_client, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    settings = make_settings(
        data_dir=str(tmp_path),
        alerting={"rules_dir": str(DEFAULT_RULES), "evaluation_interval_seconds": 3600},
    )
    app = create_app(settings, clock=clock, registry=CollectorRegistry())
    client = await aiohttp_client(app)
    runner = app[ALERTING].runner
    store = app[ALERTING].store
    assert runner is not None and store is not None
    assert len(runner.rules.rules) >= 20
    await runner.settle()  # the first full evaluation

    seq = 0
    for _ in range(20):  # 95 % for 4 min 45 s: FilesystemAlmostFull is pending (for: 5m)
        seq += 1
        resp = await client.post("/api/v1/reports", data=gz(report(clock, seq, 950)), headers=auth())
        assert resp.status == 200
        await runner.settle()  # evaluated at once for this host, not on the next tick
        clock.advance(15)
    assert await store.list() == []
    for _ in range(8):  # 5 min reached: fires; then keeps firing without duplicates
        seq += 1
        await client.post("/api/v1/reports", data=gz(report(clock, seq, 952)), headers=auth())
        await runner.settle()
        clock.advance(15)

    (inc,) = await store.list()
    assert inc.number == "INC-2026-000001"
    assert (inc.severity, inc.severity.priority, inc.category, inc.source, inc.status) == (
        Severity.MAJOR,
        "P2",
        Category.SYSTEM_FAILURE,
        Source.RULE,
        Status.OPEN,
    )
    assert inc.rule == "FilesystemAlmostFull" and inc.title == "his-db-01: /data is 95% full"
    assert inc.assets == ("his-db-01",)
    assert inc.labels == {
        "host": "his-db-01",
        "site": "main",
        "system": "HIS",
        "role": "db",
        "mountpoint": "/data",
        "device": "/dev/sdb1",
        "fstype": "xfs",
    }
    assert inc.plan_url == "https://wiki.hospital.local/it/emergency-plans/system-failure"
    assert inc.opened_at == datetime.fromtimestamp(START.timestamp() + 300, UTC)
    labels = 'site="main",system="HIS",severity="major",category="system_failure"'
    assert await metric(client, "wardwatch_incidents_open", labels) == 1.0
    escalation = app[ESCALATION].loop
    assert escalation is not None
    await escalation.tick()  # (it has usually run already, woken by the store: then this adds nothing)
    assert (await store.get(inc.id)).escalation_level == 1  # the duty engineer is paged

    seq += 1  # the disk is cleaned up: 80 % is below the clear level (85 %)
    await client.post("/api/v1/reports", data=gz(report(clock, seq, 800)), headers=auth())
    await runner.settle()
    (inc,) = await store.list()
    assert inc.status is Status.RESOLVED and inc.resolved_by == "system"
    assert inc.resolved_at == clock.now()
    timeline = await store.timeline(inc.id)
    assert life(timeline) == [TimelineKind.FIRED, TimelineKind.ESCALATED, TimelineKind.RESOLVED]
    assert timeline[0].details["value"] == 0.952
    assert await metric(client, "wardwatch_incidents_open", labels) == 0.0
    evaluations = await metric(client, "wardwatch_rule_evaluations_total", 'trigger="report"')
    assert evaluations is not None and evaluations >= 29
