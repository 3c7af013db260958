"""Traps sent with net-snmp's real snmptrap/snmpinform (v2c, v3 USM) arrive as events with the right
device and interface; garbage on the trap port is counted and dropped, and the receiver carries on."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from collector.events import Event, EventBus, Severity
from collector.snmp.client import SnmpClient
from collector.snmp.inventory import parse_inventory
from collector.snmp.poller import Poller
from collector.snmp.profiles import load_profiles
from collector.snmp.settings import SnmpSettings
from collector.snmp.traps import TrapCollector, TrapReceiver, ber_problem
from collector.state import State
from tests.snmp.conftest import COMMUNITY, V3_AUTH, V3_ENGINE_ID, V3_PRIV, V3_USER, Snmpd

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"


@dataclass
class World:
    receiver: TrapReceiver
    poller: Poller
    state: State
    events: asyncio.Queue[Event]
    retriggered: list[str]
    registry: CollectorRegistry

    async def next_event(self) -> Event:
        return await asyncio.wait_for(self.events.get(), timeout=5)


@pytest.fixture
async def world(snmpd: Snmpd) -> AsyncIterator[World]:
    inventory = parse_inventory(
        {
            "devices": [
                {
                    "name": "lab-v2c",
                    "address": "127.0.0.1",
                    "port": snmpd.port,
                    "community": COMMUNITY,
                    "profiles": ["system", "interfaces"],
                },
                {
                    "name": "lab-v3",
                    "address": "127.0.0.1",
                    "port": snmpd.port,
                    "version": "3",
                    "profiles": ["system", "interfaces"],
                    "v3": {
                        "user": V3_USER,
                        "auth_password": V3_AUTH,
                        "priv_password": V3_PRIV,
                        "engine_id": V3_ENGINE_ID,
                    },
                },
            ]
        },
        "t",
    )
    client = SnmpClient()
    state = State()
    poller = Poller(
        client=client,
        state=state,
        clock=SystemClock(),
        inventory=inventory,
        profiles=load_profiles(),
        settings=SnmpSettings(),
    )
    await poller.poll_all()
    assert poller.status["lab-v2c"].up and poller.status["lab-v3"].up
    bus = EventBus()
    queue: asyncio.Queue[Event] = asyncio.Queue()
    bus.subscribe(queue.put_nowait)
    retriggered: list[str] = []

    def on_trap(name: str) -> None:
        retriggered.append(name)
        poller.trigger(name)

    receiver = TrapReceiver(
        inventory=inventory,
        bus=bus,
        clock=SystemClock(),
        port=0,
        interfaces=lambda device, if_index: poller.status[device].interface(if_index),
        on_device_trap=on_trap,
    )
    await receiver.start()
    registry = CollectorRegistry()
    registry.register(TrapCollector(receiver))
    yield World(receiver, poller, state, queue, retriggered, registry)
    await receiver.stop()
    await poller.stop()
    client.close()


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert proc.returncode == 0, err.decode()


def _v3_args() -> list[str]:
    return [
        "-v3",
        "-u",
        V3_USER,
        "-l",
        "authPriv",
        "-a",
        "SHA-256",
        "-A",
        V3_AUTH,
        "-x",
        "AES",
        "-X",
        V3_PRIV,
    ]


async def test_v2c_link_down_names_device_and_interface_and_repolls(world: World) -> None:
    repolled = asyncio.Event()
    world.state.subscribe(lambda src, snap: repolled.set() if src.name == "lab-v2c" else None)
    port = world.receiver.port
    await _run(
        "snmptrap",
        "-v2c",
        "-c",
        COMMUNITY,
        f"127.0.0.1:{port}",
        "",
        LINK_DOWN,
        f"{IF_INDEX}.1",
        "i",
        "1",
        "1.3.6.1.2.1.2.2.1.8.1",
        "i",
        "2",
    )
    event = await world.next_event()
    assert event.kind == "snmp.linkDown"
    assert event.source_kind == "snmp" and event.source_name == "lab-v2c"
    assert event.labels["if_index"] == "1" and event.labels["if_name"] == "lo"
    assert event.severity is Severity.WARNING
    assert ("1.3.6.1.2.1.2.2.1.8.1", "2") in event.varbinds
    assert world.retriggered == ["lab-v2c"]
    await asyncio.wait_for(repolled.wait(), timeout=5)
    assert (
        world.registry.get_sample_value(
            "wardwatch_snmp_traps_total", {"device": "lab-v2c", "kind": "linkDown"}
        )
        == 1
    )


async def test_v3_trap_and_inform_arrive_from_the_v3_device(world: World) -> None:
    port = world.receiver.port
    await _run(
        "snmptrap",
        *_v3_args(),
        "-e",
        V3_ENGINE_ID,
        f"127.0.0.1:{port}",
        "",
        LINK_UP,
        f"{IF_INDEX}.1",
        "i",
        "1",
    )
    event = await world.next_event()
    assert (event.kind, event.source_name, event.labels.get("if_name")) == ("snmp.linkUp", "lab-v3", "lo")
    await _run(
        "snmpinform", *_v3_args(), "-t", "2", "-r", "1", f"127.0.0.1:{port}", "", "1.3.6.1.6.3.1.1.5.1"
    )
    event = await world.next_event()
    assert (event.kind, event.source_name) == ("snmp.coldStart", "lab-v3")


async def test_unknown_trap_is_kept_with_its_varbinds(world: World) -> None:
    await _run(
        "snmptrap", "-v2c", "-c", COMMUNITY, f"127.0.0.1:{world.receiver.port}", "",
        "1.3.6.1.4.1.2011.5.25.31.2.0.1", "1.3.6.1.4.1.2011.5.25.31.1.1.1.1.11.16842753", "i", "81",
    )  # fmt: skip
    event = await world.next_event()
    assert event.kind == "snmp.trap" and event.source_name == "lab-v2c"
    assert event.labels["trap_oid"] == "1.3.6.1.4.1.2011.5.25.31.2.0.1"
    assert ("1.3.6.1.4.1.2011.5.25.31.1.1.1.1.11.16842753", "81") in event.varbinds


async def test_garbage_and_bad_credentials_are_counted_and_the_receiver_carries_on(world: World) -> None:
    port = world.receiver.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"GET / HTTP/1.1\r\n\r\n", ("127.0.0.1", port))  # not SNMP at all
        s.sendto(b"\x30\x82\x00\x10\x02\x01", ("127.0.0.1", port))  # truncated BER
        s.sendto(b"\x30" + b"\x82\x23\x24" + b"\x00" * 0x2324, ("127.0.0.1", port))  # 9 kB: oversized
        s.sendto(b"\x30\x05\x02\x01\x01\x04\x00", ("127.0.0.1", port))  # well-formed BER, not a message
        s.sendto(bytes(range(256)) * 4, ("127.0.0.1", port))
    await _run("snmptrap", "-v2c", "-c", "wrong-Community-1", f"127.0.0.1:{port}", "", LINK_DOWN)
    await _run(
        "snmptrap", "-v2c", "-c", COMMUNITY, f"127.0.0.1:{port}", "", LINK_UP, f"{IF_INDEX}.1", "i", "1"
    )
    event = await world.next_event()  # only the good one became an event
    assert (event.kind, event.source_name) == ("snmp.linkUp", "lab-v2c")
    assert world.events.empty()

    def dropped(reason: str) -> float | None:
        return world.registry.get_sample_value(
            "wardwatch_snmp_trap_datagrams_dropped_total", {"reason": reason}
        )

    assert dropped("not_snmp") == 3
    assert dropped("oversized") == 1
    assert dropped("bad_community") == 1
    assert (dropped("malformed") or 0) + (dropped("bad_version") or 0) >= 1


def test_ber_screen() -> None:
    assert ber_problem(b"\x30\x03\x02\x01\x00", 100) is None
    assert ber_problem(b"\x30\x81\x03\x02\x01\x00", 100) is None
    assert ber_problem(b"\x30\x04\x02\x01\x00", 100) == "not_snmp"
    assert ber_problem(b"", 100) == "not_snmp"
    assert ber_problem(b"\x30" * 200, 100) == "oversized"


async def test_unknown_sender_is_an_event_without_a_device(snmpd: Snmpd) -> None:
    inventory = parse_inventory(
        {"devices": [{"name": "elsewhere", "address": "10.9.9.9", "community": COMMUNITY}]}, "t"
    )
    bus = EventBus()
    got: asyncio.Queue[Event] = asyncio.Queue()
    bus.subscribe(got.put_nowait)
    receiver = TrapReceiver(inventory=inventory, bus=bus, clock=SystemClock(), port=0)
    await receiver.start()
    try:
        await _run(
            "snmptrap", "-v2c", "-c", COMMUNITY, f"127.0.0.1:{receiver.port}", "", "1.3.6.1.6.3.1.1.5.5"
        )
        event = await asyncio.wait_for(got.get(), timeout=5)
    finally:
        await receiver.stop()
    assert event.kind == "snmp.authenticationFailure" and event.source_name == ""
    assert event.labels["address"] == "127.0.0.1"
    assert receiver.traps[("unknown", "authenticationFailure")] == 1
