"""The poller's rules with a scripted client (no network): a trap that arrives while a poll of its device is
in flight gets one more poll after it, however many traps came; a v2c timeout is ``bad_community`` while the
device's address sends authenticationFailure traps."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from alerting.clock import FakeClock, SystemClock
from collector.snmp.client import SnmpTimeout, Target
from collector.snmp.inventory import parse_inventory
from collector.snmp.poller import SYS_UPTIME, Poller
from collector.snmp.profiles import load_profiles
from collector.snmp.settings import SnmpSettings
from collector.state import SourceKind, State

SYS_NAME = "1.3.6.1.2.1.1.5.0"


class ScriptedClient:
    """Answers the system profile's GET with the world as it is when the request is sent; the first
    request waits for ``gate`` (a slow answer), so tests can act while a poll is in flight."""

    def __init__(self) -> None:
        self.world = "link-up"
        self.requests: list[str] = []
        self.first_sent = asyncio.Event()
        self.gate = asyncio.Event()

    async def get(self, target: Target, oids: Sequence[str]) -> dict[str, int | str]:
        seen = self.world
        self.requests.append(seen)
        if len(self.requests) == 1:
            self.first_sent.set()
            await self.gate.wait()
        return {SYS_UPTIME: 100 * len(self.requests), SYS_NAME: seen}

    async def walk(self, target: Target, columns: Sequence[str]) -> dict[str, dict[str, int | str]]:
        return {}


def _poller(client: ScriptedClient, state: State) -> Poller:
    inventory = parse_inventory(
        {"devices": [{"name": "sw", "address": "192.0.2.1", "community": "c", "profiles": ["system"]}]}, "t"
    )
    return Poller(
        client=client,  # type: ignore[arg-type]
        state=state,
        clock=SystemClock(),
        inventory=inventory,
        profiles=load_profiles(),
        settings=SnmpSettings(),
    )


def _sys_names(state: State) -> list[str]:
    src = state.get(SourceKind.SNMP, "sw")
    assert src is not None
    return [dict(k[1])["sys_name"] for snap in src.window for k in snap.samples if k[0].endswith("_info")]


async def test_traps_during_a_poll_get_one_follow_up_poll_after_it() -> None:
    client, state = ScriptedClient(), State()
    poller = _poller(client, state)
    scheduled = asyncio.create_task(poller.poll("sw"))
    await client.first_sent.wait()  # the interval's poll has asked; the answer is on its way
    client.world = "link-down"  # the link goes down; its traps arrive while the poll is still running
    for _ in range(3):
        poller.trigger("sw")
    await asyncio.sleep(0.01)
    assert client.requests == ["link-up"]  # nothing runs beside the poll in flight
    client.gate.set()
    await asyncio.wait_for(scheduled, 5)
    await asyncio.wait_for(asyncio.gather(*poller._tasks), 5)
    # one follow-up for the three traps, and the state ends with what the device says after the trap
    assert client.requests == ["link-up", "link-down"]
    assert _sys_names(state) == ["link-up", "link-down"]
    await poller.stop()


async def test_a_scheduled_poll_that_finds_one_running_adds_none() -> None:
    client, state = ScriptedClient(), State()
    poller = _poller(client, state)
    first = asyncio.create_task(poller.poll("sw"))
    await client.first_sent.wait()
    await asyncio.wait_for(poller.poll("sw"), 1)  # the scheduler's next run: the running poll serves it
    client.gate.set()
    await asyncio.wait_for(first, 5)
    assert client.requests == ["link-up"]
    # with nothing in flight a trap polls at once
    poller.trigger("sw")
    await asyncio.wait_for(asyncio.gather(*poller._tasks), 5)
    assert client.requests == ["link-up", "link-up"]
    await poller.stop()


class SilentClient:
    """Every request times out, as a v2c agent does with a wrong community."""

    async def get(self, target: Target, oids: Sequence[str]) -> dict[str, int | str]:
        raise SnmpTimeout(f"{target.name}: no answer (device down, or a wrong community) after 1 try of 1s")

    async def walk(self, target: Target, columns: Sequence[str]) -> dict[str, dict[str, int | str]]:
        raise AssertionError("not reached")


async def test_a_timeout_is_bad_community_while_auth_failure_traps_come_within_two_intervals() -> None:
    clock = FakeClock(1_000_000.0)
    inventory = parse_inventory(
        {
            "devices": [
                {"name": "v2c", "address": "192.0.2.1", "community": "c", "interval_seconds": 60},
                {
                    "name": "v3",
                    "address": "192.0.2.2",
                    "version": "3",
                    "interval_seconds": 60,
                    "v3": {"user": "u", "auth_password": "12345678", "priv_password": "12345678"},
                },
            ]
        },
        "t",
    )
    state = State()
    poller = Poller(
        client=SilentClient(),  # type: ignore[arg-type]
        state=state,
        clock=clock,
        inventory=inventory,
        profiles=load_profiles(),
        settings=SnmpSettings(),
    )
    seen: dict[str, float] = {}
    poller.auth_failure_at = seen.get

    async def kinds() -> dict[str, str | None]:
        await poller.poll_all()
        return {name: st.last_error_kind for name, st in poller.status.items()}

    assert await kinds() == {"v2c": "timeout", "v3": "timeout"}  # no trap: silence is all we know
    seen.update(v2c=clock.time() - 119, v3=clock.time() - 1)
    assert await kinds() == {"v2c": "bad_community", "v3": "timeout"}  # v3 failures have their own reports
    src = state.get(SourceKind.SNMP, "v2c")
    assert src is not None and src.last_error == "bad_community"
    assert "authenticationFailure trap 119s ago" in (poller.status["v2c"].last_error or "")
    clock.advance(2)  # the newest trap is now more than two intervals old
    assert await kinds() == {"v2c": "timeout", "v3": "timeout"}
