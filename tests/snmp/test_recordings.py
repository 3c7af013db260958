"""The demo devices (snmpsim recordings) polled together; every shipped profile yields every one of
its metrics from a recording (a wrong OID in a profile shows up here as a missing metric)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from alerting.clock import SystemClock
from collector.snmp.client import SnmpClient
from collector.snmp.inventory import parse_inventory
from collector.snmp.poller import Poller, make_target, poll_once
from collector.snmp.profiles import load_profiles
from collector.snmp.settings import SnmpSettings
from collector.snmp.simulator import Simulator
from collector.state import SourceKind, State

PROFILES = load_profiles()
# Which recording exercises each shipped profile.
RECORDING_FOR = {
    "system": "ups",
    "interfaces": "core-switch",
    "huawei": "core-switch",
    "entity-sensors": "dist-switch",
    "cisco": "dist-switch",
    "h3c": "access-switch",
    "huawei-oceanstor": "storage-array",
    "host-resources": "storage-array",
    "ups": "ups",
}


@pytest.fixture
async def client() -> AsyncIterator[SnmpClient]:
    c = SnmpClient()
    yield c
    c.close()


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A UDP port that receives and never answers: a dead device."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def test_every_shipped_profile_has_a_recording() -> None:
    assert set(RECORDING_FOR) == set(PROFILES)


@pytest.mark.parametrize("profile", sorted(RECORDING_FOR))
async def test_profile_yields_all_its_metrics_from_its_recording(
    profile: str, simulator: Simulator, client: SnmpClient
) -> None:
    device = parse_inventory(
        {
            "devices": [
                {
                    "name": "d",
                    "address": "127.0.0.1",
                    "port": simulator.port,
                    "community": RECORDING_FOR[profile],
                    "timeout_seconds": 2,
                }
            ]
        },
        "t",
    ).devices[0]
    p = PROFILES[profile]
    result = await poll_once(client, make_target(device, SnmpSettings()), [p])
    produced = {name for name, _ in result.samples}
    wanted = {c.metric for c in p.columns()}
    assert wanted - produced == set(), f"{profile}: no data for {sorted(wanted - produced)}"
    # every constant-labelled column (e.g. packets by cast) shows up with its own label value
    for column in p.columns():
        if column.labels:
            assert any(
                name == column.metric and set(column.labels.items()) <= set(labels)
                for name, labels in result.samples
            )


async def test_core_switch_has_49_labelled_interfaces(simulator: Simulator, client: SnmpClient) -> None:
    device = parse_inventory(
        {
            "devices": [
                {"name": "d", "address": "127.0.0.1", "port": simulator.port, "community": "core-switch"}
            ]
        },
        "t",
    ).devices[0]
    result = await poll_once(client, make_target(device, SnmpSettings()), [PROFILES["interfaces"]])
    rows = result.rows["ifTable"]
    assert len(rows) == 49
    assert rows["2"]["if_name"] == "GE1/0/1" and rows["2"]["if_alias"].startswith("to ")
    oper = [v for (name, _), v in result.samples.items() if name == "wardwatch_snmp_if_oper_status"]
    assert len(oper) == 49 and set(oper) <= {1.0, 2.0}


async def test_the_demo_switches_have_exactly_one_enabled_port_down(
    simulator: Simulator, client: SnmpClient
) -> None:
    """What the shipped InterfaceDown rule fires on (oper down while admin up): one port, on the access switch,
    named so a new user running the demo knows what it is. Every other enabled port is up, and ports an
    administrator disabled are down and not counted."""
    enabled_down, disabled = [], 0
    for community in ("core-switch", "access-switch", "dist-switch"):
        device = parse_inventory(
            {
                "devices": [
                    {
                        "name": community,
                        "address": "127.0.0.1",
                        "port": simulator.port,
                        "community": community,
                    }
                ]
            },
            "t",
        ).devices[0]
        result = await poll_once(client, make_target(device, SnmpSettings()), [PROFILES["interfaces"]])
        status = {
            (name, labels): v
            for (name, labels), v in result.samples.items()
            if name in ("wardwatch_snmp_if_oper_status", "wardwatch_snmp_if_admin_status")
        }
        for (name, labels), oper in status.items():
            if name != "wardwatch_snmp_if_oper_status":
                continue
            admin = status[("wardwatch_snmp_if_admin_status", labels)]
            if admin == 2:
                disabled += 1
                assert oper == 2
            elif oper != 1:
                row = dict(labels)
                enabled_down.append((community, row["if_index"], row["if_name"], row["if_alias"]))
    assert enabled_down == [("access-switch", "12", "GE1/0/12", "to ward 5 nurse station PC")]
    assert disabled == 8 + 4  # the core switch's and the access switch's unused ports


async def test_devices_polled_together_and_a_dead_one_delays_no_other(
    simulator: Simulator, client: SnmpClient, blackhole: int
) -> None:
    devices = [
        {
            "name": name,
            "address": "127.0.0.1",
            "port": simulator.port,
            "community": name,
            "profiles": ["system", *profiles],
        }
        for name, profiles in {
            "core-switch": ["interfaces", "huawei"],
            "access-switch": ["interfaces", "h3c"],
            "dist-switch": ["interfaces", "cisco"],
            "storage-array": ["huawei-oceanstor"],
            "ups": ["ups"],
        }.items()
    ]
    devices.append(
        {
            "name": "dead",
            "address": "127.0.0.1",
            "port": blackhole,
            "community": "x",
            "timeout_seconds": 4,
            "retries": 0,
        }
    )
    inventory = parse_inventory({"devices": devices}, "t", known_profiles=PROFILES)
    state = State()
    poller = Poller(
        client=client,
        state=state,
        clock=SystemClock(),
        inventory=inventory,
        profiles=PROFILES,
        settings=SnmpSettings(),
    )
    finished: dict[str, float] = {}
    started = time.monotonic()

    async def poll(name: str) -> None:
        await poller.poll(name)
        finished[name] = time.monotonic() - started

    await asyncio.wait_for(asyncio.gather(*(poll(d["name"]) for d in devices)), timeout=15)
    assert finished["dead"] >= 4.0
    healthy = [n for n in finished if n != "dead"]
    assert max(finished[n] for n in healthy) < 3.0, finished  # long before the dead one gives up
    for name in healthy:
        src = state.get(SourceKind.SNMP, name)
        assert src is not None and src.last_error is None and src.latest() is not None, name
        assert poller.status[name].up
    dead = state.get(SourceKind.SNMP, "dead")
    assert dead is not None and dead.last_error == "timeout" and dead.latest() is None
    assert poller.status["dead"].last_error_kind == "timeout"
    assert state.get(SourceKind.SNMP, "ups").info["sys_name"] == "DC-UPS-01"  # type: ignore[union-attr]
