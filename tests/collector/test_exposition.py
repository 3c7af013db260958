from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from alerting.clock import SystemClock
from collector import keys
from collector.app import create_app
from collector.catalog import MetricType
from collector.snmp.profiles import load_profiles
from collector.snmp.simulator import free_udp_port, start_simulator
from collector.state import Snapshot, SourceKind, series_key
from tests.collector.conftest import auth, gz, make_settings, report_dict

REPO = Path(__file__).resolve().parents[2]
DEMO_INVENTORY = REPO / "deploy" / "examples" / "inventory.yaml"


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


def promtool_check_metrics(text: str) -> None:
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    # exit 3 = lint findings, 1 = parse error: both fail, and the findings are shown; success says nothing
    findings = proc.stdout + proc.stderr
    assert proc.returncode == 0 and findings == "", findings


async def test_promtool_check_metrics_finds_nothing(client):
    for host in ("his-db-01", "pacs-01"):
        await client.post("/api/v1/reports", data=gz(report_dict(host)), headers=auth(host))
    text = await (await client.get("/metrics")).text()
    promtool_check_metrics(text)
    assert "wardwatch_filesystem_used_ratio" in text
    assert 'wardwatch_agent_info{host="pacs-01"' in text


async def test_an_info_family_is_name_info_in_help_type_and_samples(client, fake_clock):
    """An info family ``x`` is the gauge ``x_info`` in every line, as prometheus-client writes it."""
    app = client.server.app
    app[keys.CATALOG].declare("wardwatch_test_firmware", MetricType.INFO, "Firmware of a test device.")
    state = app[keys.STATE]
    src = state.upsert_source(SourceKind.SNMP, "test-sw", labels={"site": "main"}, interval_seconds=30)
    now = fake_clock.time()
    key = series_key("wardwatch_test_firmware", version="V200R019")
    state.record(src, Snapshot(now, now, samples={key: 1.0}))
    await client.post("/api/v1/reports", data=gz(report_dict()), headers=auth())

    text = await (await client.get("/metrics")).text()
    promtool_check_metrics(text)
    assert "# HELP wardwatch_test_firmware_info Firmware of a test device." in text
    assert "# TYPE wardwatch_test_firmware_info gauge" in text
    assert 'wardwatch_test_firmware_info{device="test-sw",site="main",version="V200R019"} 1.0' in text
    assert "\nwardwatch_test_firmware{" not in text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("wardwatch_test_firmware_info", "wardwatch_agent_info"):
        assert fams[name].type == "gauge"
        assert [s.name for s in fams[name].samples] == [name]


def _demo_inventory(tmp_path: Path, sim_port: int) -> tuple[Path, list[str]]:
    """The demo's inventory (deploy/examples/inventory.yaml: five devices that together use every shipped
    profile) on the simulator's port, plus a device that never answers (wardwatch_snmp_last_error_info)."""
    inventory = yaml.safe_load(DEMO_INVENTORY.read_text(encoding="utf-8"))
    for d in inventory["devices"]:
        d["port"] = sim_port
    names = [d["name"] for d in inventory["devices"]]
    inventory["devices"].append(
        {"name": "ghost", "address": "127.0.0.1", "community": "nobody", "port": free_udp_port(),
         "timeout_seconds": 0.3, "retries": 0, "labels": {"site": "main-campus"}}
    )  # fmt: skip
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    return path, names


async def test_promtool_finds_nothing_with_every_shipped_profile_polled(aiohttp_client, tmp_path: Path):
    """/metrics as the demo shows it: the simulated devices polled with every shipped profile, the default rules
    and their incidents, the example roster, an agent. ``promtool check metrics`` must report nothing: no
    camelCase label (MIB names such as ifName are if_name), no non-base unit (minutes, bits), info series typed
    as gauges."""
    inventory = yaml.safe_load(DEMO_INVENTORY.read_text(encoding="utf-8"))
    assert {
        p for d in inventory["devices"] for p in d.get("profiles", inventory["defaults"]["profiles"])
    } == set(load_profiles()), (
        "every shipped profile must be polled in the demo inventory (and so checked here)"
    )
    sim = await asyncio.to_thread(start_simulator)
    try:
        path, devices = _demo_inventory(tmp_path, sim.port)
        settings = make_settings(
            snmp={"enabled": True, "inventory_file": str(path), "trap_port": 0},
            alerting={"enabled": True, "rules_dir": str(REPO / "deploy" / "rules")},
            rosters={"path": str(REPO / "rosters" / "example-hospital.yaml")},
            data_dir=str(tmp_path),
        )
        client = await aiohttp_client(create_app(settings, clock=SystemClock(), registry=CollectorRegistry()))
        await client.post("/api/v1/reports", data=gz(report_dict()), headers=auth())
        wanted = [re.compile(rf'^wardwatch_snmp_up{{device="{d}",.*}} 1\.0$', re.M) for d in devices]
        wanted += [
            re.compile('^wardwatch_snmp_last_error_info{device="ghost",', re.M),
            re.compile(
                "^wardwatch_incident_open_info{", re.M
            ),  # the default rules opened incidents (failed disk)
        ]
        text = ""
        for _ in range(150):  # the first polls run at start-up; the ghost fails after its 0.3 s timeout
            text = await (await client.get("/metrics")).text()
            if all(w.search(text) for w in wanted):
                break
            await asyncio.sleep(0.1)
        assert [w.pattern for w in wanted if not w.search(text)] == [], text[-3000:]
    finally:
        await asyncio.to_thread(sim.stop)

    promtool_check_metrics(text)
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    produced = {name.removesuffix("_total") for name in fams} | set(fams)
    declared = {c.metric for p in load_profiles().values() for c in p.columns()}
    assert {m.removesuffix("_total") for m in declared} - produced == set()  # every profile's every metric
    for name in ("wardwatch_snmp_system_info", "wardwatch_snmp_oceanstor_info", "wardwatch_agent_info"):
        assert fams[name].type == "gauge"
        assert {s.name for s in fams[name].samples} == {name}
    (runtime,) = fams["wardwatch_snmp_ups_battery_runtime_seconds"].samples
    assert runtime.value == 42 * 60  # upsEstimatedMinutesRemaining 42 in the recording
    speeds = {s.labels["if_name"]: s.value for s in fams["wardwatch_snmp_if_speed_bytes_per_second"].samples
              if s.labels["device"] == "WARD5F-ACC-SW02"}  # fmt: skip
    assert speeds["GE1/0/1"] == 125_000_000 and speeds["XGE1/0/25"] == 1_250_000_000  # 1 and 10 Gbit/s
