"""The client and poller against net-snmp's real snmpd on loopback: v2c, v3 authPriv, and each
failure told apart (and none of them leaking a secret)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alerting.clock import SystemClock
from collector.events import Event, EventBus
from collector.snmp.client import (
    SnmpAuthError,
    SnmpClient,
    SnmpError,
    SnmpNoSuchName,
    SnmpTimeout,
    SnmpUnknownUser,
    SnmpUnreachable,
)
from collector.snmp.inventory import Inventory
from collector.snmp.poller import Poller, make_target, poll_once
from collector.snmp.profiles import load_profiles
from collector.snmp.settings import SnmpSettings
from collector.snmp.simulator import free_udp_port
from collector.snmp.traps import TrapReceiver
from collector.state import SourceKind, State, series_key
from tests.snmp.conftest import COMMUNITY, EXTRA_V3_USERS, V3_AUTH, V3_PRIV, Snmpd, running_snmpd

PROFILES = load_profiles()
SETTINGS = SnmpSettings()


@pytest.fixture
async def client() -> AsyncIterator[SnmpClient]:
    c = SnmpClient()
    yield c
    c.close()


def _profiles(*names: str) -> list:
    return [PROFILES[n] for n in names]


async def test_v2c_poll_reads_system_interfaces_and_host_resources(snmpd: Snmpd, client: SnmpClient) -> None:
    target = make_target(snmpd.device(), SETTINGS)
    result = await poll_once(client, target, _profiles("system", "interfaces", "host-resources"))
    system = [dict(labels) for name, labels in result.samples if name == "wardwatch_snmp_system_info"]
    assert system and system[0]["sys_name"] == "wardwatch-lab-snmpd"
    assert system[0]["sys_location"] == "lab rack 1"
    assert result.info["sys_contact"] == "duty desk"
    assert result.sys_uptime_seconds is not None and result.sys_uptime_seconds >= 0
    lo = result.rows["ifTable"]["1"]
    assert lo["if_name"] == "lo" and lo["if_descr"] == "lo"
    assert (
        result.samples[series_key("wardwatch_snmp_if_oper_status", if_index="1", if_name="lo", if_descr="lo")]
        == 1
    )
    assert any(k[0] == "wardwatch_snmp_if_in_octets_total" for k in result.samples)
    storage = {
        dict(k[1]).get("hr_storage_descr"): v
        for k, v in result.samples.items()
        if k[0] == "wardwatch_snmp_hr_storage_size_bytes"
    }
    assert storage.get("Physical memory", 0) > 64 * 2**20


async def test_v3_auth_priv_poll(snmpd: Snmpd, client: SnmpClient) -> None:
    target = make_target(snmpd.v3_device(), SETTINGS)
    result = await poll_once(client, target, _profiles("system", "interfaces"))
    assert result.info["sys_name"] == "wardwatch-lab-snmpd"
    assert "1" in result.rows["ifTable"]


async def test_getnext_walk_gives_the_same_rows_as_getbulk(snmpd: Snmpd, client: SnmpClient) -> None:
    bulk = await poll_once(client, make_target(snmpd.device(), SETTINGS), _profiles("interfaces"))
    nxt = await poll_once(
        client, make_target(snmpd.device(use_getbulk=False), SETTINGS), _profiles("interfaces")
    )
    assert nxt.rows == bulk.rows
    statuses = {k: v for k, v in bulk.samples.items() if k[0] == "wardwatch_snmp_if_admin_status"}
    assert statuses == {k: v for k, v in nxt.samples.items() if k[0] == "wardwatch_snmp_if_admin_status"}


async def _error_of(client: SnmpClient, device) -> SnmpError:  # type: ignore[no-untyped-def]
    with pytest.raises(SnmpError) as err:
        await poll_once(client, make_target(device, SETTINGS), _profiles("system"))
    return err.value


async def test_failures_are_told_apart_and_leak_no_secret(snmpd: Snmpd, client: SnmpClient) -> None:
    wrong_community = await _error_of(client, snmpd.device(community="not-the-Community-7"))
    wrong_password = await _error_of(client, snmpd.v3_device(auth_password="wrong-Auth-Pass-9"))
    unknown_user = await _error_of(client, snmpd.v3_device(user="nobody-here"))
    closed_port = free_udp_port()
    unreachable = await _error_of(client, snmpd.device(port=closed_port))

    assert type(wrong_community) is SnmpTimeout and wrong_community.kind == "timeout"
    # Without its authenticationFailure traps (test_a_wrong_community_is_told_apart_by_the_agents_trap)
    # silence is all there is: the message says what it may mean.
    assert "no answer (device down, or a wrong community)" in str(wrong_community)
    assert type(wrong_password) is SnmpAuthError and wrong_password.kind == "auth_failure"
    assert type(unknown_user) is SnmpUnknownUser and unknown_user.kind == "unknown_user"
    assert type(unreachable) is SnmpUnreachable and unreachable.kind == "unreachable"
    assert f"127.0.0.1:{closed_port}" in str(unreachable)

    for err in (wrong_community, wrong_password, unknown_user, unreachable):
        text = str(err) + repr(err) + repr(err.args)
        for secret in (COMMUNITY, "not-the-Community-7", V3_AUTH, V3_PRIV, "wrong-Auth-Pass-9"):
            assert secret not in text


async def test_a_profile_the_device_does_not_have_is_no_such_name(snmpd: Snmpd, client: SnmpClient) -> None:
    with pytest.raises(SnmpNoSuchName, match="none of the profiles' OIDs exist"):
        await poll_once(client, make_target(snmpd.device(), SETTINGS), _profiles("huawei", "ups"))
    v3 = make_target(snmpd.v3_device(), SETTINGS)
    with pytest.raises(SnmpNoSuchName):
        await poll_once(client, v3, _profiles("cisco"))


async def test_target_repr_hides_credentials(snmpd: Snmpd) -> None:
    target = make_target(snmpd.v3_device(), SETTINGS)
    assert V3_AUTH not in repr(target) and V3_PRIV not in repr(target)
    assert COMMUNITY not in repr(make_target(snmpd.device(), SETTINGS))


_PRIV_NAMES = {"AES": "AES-128", "AES-192": "AES-192", "AES-256": "AES-256"}


@pytest.mark.parametrize(("user", "auth", "auth_pw", "priv", "priv_pw", "level"), EXTRA_V3_USERS)
async def test_v3_protocols_on_the_wire_path_match_pysnmp(
    snmpd: Snmpd, user: str, auth: str, auth_pw: str, priv: str, priv_pw: str, level: str
) -> None:
    v3: dict[str, object] = {"user": user, "auth_protocol": auth or "SHA", "auth_password": auth_pw or None}
    if level == "noauth":
        v3 |= {"security_level": "noAuthNoPriv"}
    elif level == "priv":
        v3 |= {"security_level": "authPriv", "priv_protocol": _PRIV_NAMES[priv], "priv_password": priv_pw}
    else:
        v3 |= {"security_level": "authNoPriv"}
    target = make_target(snmpd.v3_device(**v3), SETTINGS)
    wire, pysnmp_path = SnmpClient(), SnmpClient(fast_v3=False)
    try:
        a = await poll_once(wire, target, _profiles("system", "interfaces"))
        b = await poll_once(pysnmp_path, target, _profiles("system", "interfaces"))
    finally:
        wire.close()
        pysnmp_path.close()
    assert a.info["sys_name"] == "wardwatch-lab-snmpd"
    assert a.rows == b.rows and a.info == b.info and set(a.samples) == set(b.samples)


async def test_v3_wrong_privacy_password_is_reported(snmpd: Snmpd, client: SnmpClient) -> None:
    err = await _error_of(client, snmpd.v3_device(priv_password="Wrong-Priv-Secret-8"))
    # snmpd drops what it cannot decrypt without a report: the poller sees silence
    assert err.kind == "timeout"
    assert "Wrong-Priv-Secret-8" not in str(err) and V3_AUTH not in str(err)


async def test_a_wrong_community_is_told_apart_by_the_agents_trap(tmp_path: Path) -> None:
    """snmpd set to send authenticationFailure traps (authtrapenable) to the collector's trap port: the v2c
    device polled with a wrong community is ``bad_community``; a silent device stays ``timeout``, a closed port
    ``unreachable`` and a v3 wrong password ``auth_failure``, and the auth traps re-poll nothing."""
    trap_port = free_udp_port()
    with (
        running_snmpd(tmp_path, f"authtrapenable 1\ntrap2sink 127.0.0.1:{trap_port} {COMMUNITY}\n") as agent,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent,
    ):
        silent.bind(
            ("127.0.0.2", 0)
        )  # bound, never answers: no ICMP either, a dead agent as the wire sees it
        devices = [
            agent.device("good"),
            agent.device("wrong-community", community="not-the-Community-7"),
            agent.device("closed-port", port=free_udp_port()),
            agent.v3_device("v3-wrong-password", auth_password="wrong-Auth-Pass-9"),
            agent.device("silent", address="127.0.0.2", port=silent.getsockname()[1]),
        ]
        inventory = Inventory(devices=devices)
        state, bus, clock = State(), EventBus(), SystemClock()
        events: list[Event] = []
        bus.subscribe(events.append)
        client = SnmpClient()
        poller = Poller(
            client=client, state=state, clock=clock, inventory=inventory, profiles=PROFILES, settings=SETTINGS
        )
        repolled: list[str] = []
        receiver = TrapReceiver(
            inventory=inventory, bus=bus, clock=clock, port=trap_port, on_device_trap=repolled.append
        )
        await receiver.start()
        poller.auth_failure_at = receiver.last_auth_failure  # as the component wires them
        try:
            await poller.poll_all()
            await asyncio.sleep(0.2)  # let a late trap in, had a poll provoked one
        finally:
            await receiver.stop()
            await poller.stop()
            client.close()

    kinds = {name: st.last_error_kind for name, st in poller.status.items()}
    assert kinds == {
        "good": None,
        "wrong-community": "bad_community",
        "closed-port": "unreachable",
        "v3-wrong-password": "auth_failure",
        "silent": "timeout",
    }
    wrong = state.get(SourceKind.SNMP, "wrong-community")
    assert wrong is not None and wrong.last_error == "bad_community"
    message = poller.status["wrong-community"].last_error or ""
    assert "authenticationFailure trap" in message and "wrong community" in message
    assert "no answer (device down, or a wrong community)" in (poller.status["silent"].last_error or "")
    auth_traps = [e for e in events if e.kind == "snmp.authenticationFailure"]
    assert auth_traps and all(e.labels["address"] == "127.0.0.1" for e in auth_traps)
    assert repolled == []  # an authenticationFailure trap is no reason to poll (it would feed itself)
    for st in poller.status.values():
        text = st.last_error or ""
        for secret in (COMMUNITY, "not-the-Community-7", V3_AUTH, V3_PRIV, "wrong-Auth-Pass-9"):
            assert secret not in text
