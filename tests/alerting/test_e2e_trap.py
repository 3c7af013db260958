"""A real ``snmptrap`` linkDown to the collector's trap port opens one incident through the default rules, and
the matching linkUp resolves it. The device is a real snmpd (polled, so the trap's if_index gets its if_name)."""

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
from collector.snmp.simulator import free_udp_port
from collector.state import SourceKind
from tests.collector.conftest import make_settings
from tests.snmp.conftest import COMMUNITY, Snmpd, snmpd  # noqa: F401 (the session fixture)
from tests.support.timeline import life

pytestmark = pytest.mark.slow
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "deploy" / "rules"
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"


async def snmptrap(port: int, trap_oid: str, if_index: int) -> None:
    proc = await asyncio.create_subprocess_exec(
        "snmptrap", "-v2c", "-c", COMMUNITY, f"127.0.0.1:{port}", "", trap_oid,
        f"{IF_INDEX}.{if_index}", "i", str(if_index),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert proc.returncode == 0, err.decode()


async def eventually(check, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        await asyncio.sleep(0.1)  # UDP from another process and a real snmpd: poll, bounded


async def test_a_real_linkdown_trap_opens_one_incident_and_linkup_resolves_it(
    aiohttp_client,
    tmp_path: Path,
    snmpd: Snmpd,  # noqa: F811
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {
                        "name": "access-sw-3",
                        "address": snmpd.host,
                        "port": snmpd.port,
                        "community": COMMUNITY,
                        "interval_seconds": 60,
                        "profiles": ["system", "interfaces"],
                        "labels": {"site": "main", "system": "network", "room": "outpatient-1F-IDF"},
                    }
                ]
            }
        )
    )
    trap_port = free_udp_port()
    settings = make_settings(
        data_dir=str(tmp_path),
        snmp={"enabled": True, "inventory_file": str(inventory), "trap_port": trap_port},
        alerting={"rules_dir": str(DEFAULT_RULES)},
    )
    app = create_app(settings, clock=SystemClock(), registry=CollectorRegistry())
    await aiohttp_client(app)
    store = app[ALERTING].store
    state = app[keys.STATE]

    async def polled():
        src = state.get(SourceKind.SNMP, "access-sw-3")
        return src is not None and src.latest() is not None

    await eventually(polled, "the first poll of snmpd")
    await snmptrap(trap_port, LINK_DOWN, 1)

    async def trap_incidents():
        return [i for i in await store.list() if i.rule == "LinkDownTrap"]

    (inc,) = await eventually(trap_incidents, "the linkDown incident")
    assert (inc.source, inc.severity, inc.category, inc.status) == (
        Source.TRAP,
        Severity.MAJOR,
        Category.NETWORK_OUTAGE,
        Status.OPEN,
    )
    assert inc.labels["device"] == "access-sw-3" and inc.labels["if_index"] == "1"
    assert inc.labels["room"] == "outpatient-1F-IDF" and inc.labels["if_name"]  # looked up from the poll
    assert inc.assets == ("access-sw-3",)

    async def paged():
        return (await store.get(inc.id)).escalation_level == 1 or None

    await eventually(paged, "the network team paged")  # (the recovery below must not race the first page)
    await snmptrap(trap_port, LINK_DOWN, 1)  # the switch repeats itself: the same incident

    async def resolved():
        incidents = await trap_incidents()
        return incidents if incidents[0].status is Status.RESOLVED else None

    await snmptrap(trap_port, LINK_UP, 1)
    incidents = await eventually(resolved, "the linkUp resolution")
    assert [i.number for i in incidents] == [inc.number]
    kinds = life(await store.timeline(inc.id))
    assert kinds[0] is TimelineKind.FIRED and kinds[-1] is TimelineKind.RESOLVED
    assert kinds.count(TimelineKind.ESCALATED) == 1  # paged once, not again for the repeated trap
    assert [i for i in await store.list() if i.rule != "LinkDownTrap"] == []  # nothing else fired
