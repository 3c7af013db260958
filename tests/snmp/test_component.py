"""The SNMP component inside the real collector app: simulated devices polled on their schedule,
their series on /metrics with device and asset labels, health per device, traps on the event bus."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from collector import keys
from collector.app import create_app
from collector.events import Event
from collector.settings import CollectorSettings
from collector.snmp.component import SNMP_POLLER, SNMP_TRAPS
from collector.snmp.inventory import InventoryError
from collector.snmp.simulator import Simulator, free_udp_port

GHOST_COMMUNITY = "ghost-Secret-community-5"


def _inventory(tmp_path: Path, sim_port: int, ghost_port: int) -> Path:
    example = yaml.safe_load(Path("deploy/examples/inventory.yaml").read_text())
    for device in example["devices"]:
        device["port"] = sim_port
    example["devices"].append(
        {
            "name": "ghost",
            "address": "127.0.0.1",
            "port": ghost_port,
            "community": GHOST_COMMUNITY,
            "timeout_seconds": 0.3,
            "retries": 0,
        }
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(example))
    return path


def _settings(inventory: Path) -> CollectorSettings:
    return CollectorSettings.model_validate(
        {
            "data_dir": str(inventory.parent / "data"),  # the incident store: the test's own, not var/
            "snmp": {"enabled": True, "inventory_file": str(inventory), "trap_port": 0},
            "allow_unauthenticated_agents": True,
        }
    )


async def test_devices_reach_metrics_and_traps_reach_the_bus(
    aiohttp_client, simulator: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(
        _settings(_inventory(tmp_path, simulator.port, free_udp_port())),
        clock=SystemClock(),
        registry=CollectorRegistry(),
    )
    all_polled = asyncio.Event()
    seen: set[str] = set()

    def on_record(src, snap) -> None:  # type: ignore[no-untyped-def]
        seen.add(src.name)
        if len(seen) == 5:
            all_polled.set()

    app[keys.STATE].subscribe(on_record)
    events: asyncio.Queue[Event] = asyncio.Queue()
    app[keys.EVENTS].subscribe(events.put_nowait)
    client = await aiohttp_client(app)
    await asyncio.wait_for(all_polled.wait(), timeout=15)

    body = await (await client.get("/metrics")).text()
    ups_labels = 'device="DC-UPS-01",role="ups",room="B1-ups-room",site="main-campus",system="power"'
    assert f"wardwatch_snmp_ups_battery_charge_percent{{{ups_labels}}} 100.0" in body
    up_labels = 'device="DC-UPS-01",rack="",role="ups",room="B1-ups-room",site="main-campus",system="power"'
    assert f"wardwatch_snmp_up{{{up_labels}}} 1.0" in body
    assert "# TYPE wardwatch_snmp_if_in_octets_total counter" in body
    assert 'wardwatch_snmp_if_oper_status{device="HOSP-CORE-SW01"' in body
    assert 'wardwatch_snmp_system_info{device="PACS-STOR01"' in body
    assert 'wardwatch_snmp_oceanstor_disk_health{device="PACS-STOR01"' in body
    assert 'wardwatch_snmp_poll_duration_seconds{device="WARD5F-ACC-SW02"' in body

    for _ in range(50):  # the ghost's first poll fails after its own 0.3 s timeout plus the ICMP check
        if 'wardwatch_snmp_last_error_info{device="ghost"' in body:
            break
        await asyncio.sleep(0.1)
        body = await (await client.get("/metrics")).text()
    assert (
        'wardwatch_snmp_last_error_info{device="ghost",kind="unreachable",rack="",role="",room="",site="",system=""} 1.0'
        in body
    )
    assert 'wardwatch_snmp_up{device="ghost"' in body

    proc = await asyncio.create_subprocess_exec(
        "snmptrap", "-v2c", "-c", "ups", f"127.0.0.1:{app[SNMP_TRAPS].port}", "", "1.3.6.1.2.1.33.2.1",
        "1.3.6.1.2.1.33.1.2.3.0", "i", "12",
    )  # fmt: skip
    assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    event = await asyncio.wait_for(events.get(), timeout=5)
    assert event.source_name == "DC-UPS-01" and event.kind == "snmp.trap"
    assert event.labels["trap_oid"] == "1.3.6.1.2.1.33.2.1"
    body = await (await client.get("/metrics")).text()
    assert 'wardwatch_snmp_traps_total{device="DC-UPS-01",kind="trap"} 1.0' in body

    # a v2c timeout is told from a wrong community by the receiver's authenticationFailure traps
    assert app[SNMP_POLLER].auth_failure_at == app[SNMP_TRAPS].last_auth_failure

    assert GHOST_COMMUNITY not in body
    assert GHOST_COMMUNITY not in caplog.text


def test_bad_inventory_fails_start_up_naming_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        "devices:\n  - name: sw\n    address: 10.0.0.1\n    community: x\n    profiles: [interfacez]\n"
    )
    with pytest.raises(
        InventoryError, match=r"inv.yaml: devices\[sw\].profiles: unknown profile 'interfacez'"
    ):
        create_app(_settings(path), registry=CollectorRegistry())


def test_disabled_snmp_still_provides_the_event_bus() -> None:
    app = create_app(CollectorSettings(), registry=CollectorRegistry())
    assert keys.EVENTS in app
    assert SNMP_TRAPS not in app
