"""A polled device changes state: a simulated UPS (snmpsim serving a UPS-MIB recording, polled over real SNMP by
the collector every second) goes on battery: one ``UpsOnBattery`` incident (P1, from the default rules); back on
mains: resolved. The simulator is restarted with the changed recording, so the collector also rides through a
moment of failed polls without a false "device silent"."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from alerting.component import ALERTING
from alerting.model import Category, Severity, Source, Status, TimelineKind
from collector import keys
from collector.app import create_app
from collector.snmp.demo_recordings import RECORDINGS_DIR
from collector.snmp.simulator import Simulator, free_udp_port, start_simulator
from collector.state import SourceKind
from tests.collector.conftest import make_settings
from tests.support.timeline import life

pytestmark = pytest.mark.slow
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "deploy" / "rules"
OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"  # upsOutputSource: 3 normal, 5 battery


def record(data_dir: Path, output_source: int) -> None:
    lines = (RECORDINGS_DIR / "ups.snmprec").read_text().splitlines()
    out = [
        f"{OUTPUT_SOURCE}|2|{output_source}" if line.startswith(f"{OUTPUT_SOURCE}|") else line
        for line in lines
    ]
    assert out != lines or f"{OUTPUT_SOURCE}|2|{output_source}" in lines
    (data_dir / "ups.snmprec").write_text("\n".join(out) + "\n")


async def eventually(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        await asyncio.sleep(0.2)  # a real poller against another process: poll the store, bounded


async def test_a_ups_going_on_battery_opens_one_p1_incident_and_mains_resolves_it(
    aiohttp_client, tmp_path: Path
) -> None:
    data_dir = tmp_path / "recordings"
    data_dir.mkdir()
    record(data_dir, 3)
    port = free_udp_port()
    sim: Simulator = await asyncio.to_thread(start_simulator, port=port, data_dir=data_dir)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {
                        "name": "ups-b1",
                        "address": "127.0.0.1",
                        "port": port,
                        "community": "ups",
                        "interval_seconds": 1,
                        "timeout_seconds": 0.5,
                        "retries": 0,
                        "profiles": ["system", "ups"],
                        "labels": {"site": "main", "room": "B1-UPS", "system": "power"},
                    }
                ]
            }
        )
    )
    settings = make_settings(
        data_dir=str(tmp_path / "data"),
        snmp={"enabled": True, "inventory_file": str(inventory), "traps_enabled": False},
        alerting={"rules_dir": str(DEFAULT_RULES)},
    )
    try:
        app = create_app(settings, clock=SystemClock(), registry=CollectorRegistry())
        await aiohttp_client(app)
        store = app[ALERTING].store
        runner = app[ALERTING].runner
        assert store is not None and runner is not None

        state = app[keys.STATE]

        async def polled():
            src = state.get(SourceKind.SNMP, "ups-b1")
            return src is not None and src.latest() is not None

        await eventually(polled, "the first poll")
        assert await store.list() == []

        await asyncio.to_thread(sim.stop)  # mains fail: the UPS card now says "battery"
        record(data_dir, 5)
        sim = await asyncio.to_thread(start_simulator, port=port, data_dir=data_dir)

        async def on_battery():
            return [i for i in await store.list() if i.rule == "UpsOnBattery"]

        (inc,) = await eventually(on_battery, "the on-battery incident")
        assert (inc.source, inc.severity, inc.severity.priority, inc.category, inc.status) == (
            Source.RULE,
            Severity.CRITICAL,
            "P1",
            Category.SYSTEM_FAILURE,
            Status.OPEN,
        )
        assert inc.title == "ups-b1 (B1-UPS) is on battery" and inc.assets == ("ups-b1",)
        assert inc.plan_url == "https://wiki.hospital.local/it/emergency-plans/power-failure"

        await asyncio.to_thread(sim.stop)  # mains back
        record(data_dir, 3)
        sim = await asyncio.to_thread(start_simulator, port=port, data_dir=data_dir)

        async def resolved():
            incidents = await on_battery()
            return incidents if incidents[0].status is Status.RESOLVED else None

        incidents = await eventually(resolved, "the resolution")
        assert [i.number for i in incidents] == [inc.number]
        kinds = life(await store.timeline(inc.id))
        assert kinds[0] is TimelineKind.FIRED and kinds[-1] is TimelineKind.RESOLVED
        assert kinds.count(TimelineKind.ESCALATED) == 1  # paged once, at once
        others = [i for i in await store.list() if i.rule != "UpsOnBattery"]
        assert others == []  # the seconds of failed polls while it restarted did not page "device silent"
    finally:
        await asyncio.to_thread(sim.stop)
