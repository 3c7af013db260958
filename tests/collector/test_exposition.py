from __future__ import annotations

import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.collector.conftest import auth, gz, report_dict


async def scrape(client) -> dict[str, list]:
    text = await (await client.get("/metrics")).text()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


async def test_series_carry_host_and_asset_labels(client):
    await client.post("/api/v1/reports", data=gz(report_dict()), headers=auth())
    fams = await scrape(client)
    (used,) = fams["wardwatch_filesystem_used_ratio"]
    assert used.labels == {
        "host": "his-db-01",
        "site": "main",
        "system": "HIS",
        "role": "db",
        "mountpoint": "/data",
        "device": "/dev/sdb1",
        "fstype": "xfs",
    }
    assert used.value == pytest.approx(0.9)
    rx = [s for s in fams["wardwatch_network_receive_bytes"] if s.name.endswith("_total")]
    assert rx[0].value == 10 and rx[0].labels["interface"] == "eth0"
    assert fams["wardwatch_cpu_usage_ratio"][0].value == 0.25


async def test_agent_up_turns_zero_when_reports_stop(client, fake_clock):
    await client.post("/api/v1/reports", data=gz(report_dict()), headers=auth())
    (up,) = (await scrape(client))["wardwatch_agent_up"]
    assert up.value == 1.0
    fake_clock.advance(15 * 3 + 1)  # interval 15 s, stale after 3 intervals
    (up,) = (await scrape(client))["wardwatch_agent_up"]
    assert up.value == 0.0


async def test_clock_skew_is_agent_minus_collector(client, fake_clock):
    now = fake_clock.time()
    body = report_dict(timestamp=now + 120, sent_at=now + 120)
    await client.post("/api/v1/reports", data=gz(body), headers=auth())
    fams = await scrape(client)
    (skew,) = fams["wardwatch_agent_clock_skew_seconds"]
    assert skew.value == pytest.approx(120)
    (last,) = fams["wardwatch_agent_last_report_timestamp_seconds"]
    assert last.value == pytest.approx(now)
    (info,) = fams["wardwatch_agent_info"]
    assert info.labels["version"] == "0.1.0"


async def test_collector_counts_its_own_work(client):
    await client.post("/api/v1/reports", data=gz(report_dict()), headers=auth())
    fams = await scrape(client)
    accepted = {
        s.labels["outcome"]: s.value for s in fams["wardwatch_collector_reports"] if s.name.endswith("_total")
    }
    assert accepted == {"latest": 1.0}
    assert any(
        s.name.endswith("_count") and s.value >= 1
        for s in fams["wardwatch_collector_report_duration_seconds"]
    )


async def test_promtool_check_metrics_finds_nothing(client):
    for host in ("his-db-01", "pacs-01"):
        await client.post("/api/v1/reports", data=gz(report_dict(host)), headers=auth(host))
    text = await (await client.get("/metrics")).text()
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    # exit 3 = lint findings, 1 = parse error: both fail, and the findings are shown
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wardwatch_filesystem_used_ratio" in text
