"""The SNMP poller: each device on its own interval, scalars in one GET, tables by column walks.

``Poller.poll(name)`` polls one device once and writes the state (a snapshot on success,
``mark_error(kind)`` on failure). APScheduler decides only *when*; a global semaphore bounds polls in
flight; a dead device costs only its own timeout and one semaphore slot, never another device's time.
``trigger(name)`` re-polls at once (a trap arrived), or right after the poll in flight.

A v2c agent drops a request with a wrong community silently: a poll that times out is ``timeout`` ("no
answer (device down, or a wrong community)") unless the trap receiver (``auth_failure_at``) got an
authenticationFailure trap from the device's address within two of its intervals: then it is
``bad_community``.

Per-device health (up, last poll duration, last error kind) reaches /metrics through
``SnmpStatusCollector``, registered in the app's registry; it reads ``Poller.status`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerting.clock import Clock
from collector.snmp.client import (
    SnmpBadCommunity,
    SnmpClient,
    SnmpError,
    SnmpNoSuchName,
    SnmpTimeout,
    Target,
    auth_for,
    community_of,
)
from collector.snmp.counters import SYS_UPTIME_METRIC, counter_specs
from collector.snmp.inventory import Device, Inventory
from collector.snmp.profiles import Profile, Translation, translate
from collector.snmp.settings import SnmpSettings
from collector.state import SeriesKey, Snapshot, SourceKind, State, series_key

log = logging.getLogger("wardwatch.snmp")

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
ASSET_LABELS = ("site", "room", "rack", "role", "system")
# The interfaces profile's row labels (ifName, ifAlias, ifDescr columns) that a link trap's event copies.
INTERFACE_LABELS = ("if_name", "if_alias", "if_descr")
# A v2c timeout is bad_community if an authenticationFailure trap came from the device within this many intervals.
AUTH_TRAP_INTERVALS = 2
# Varbinds asked per GETBULK: rows × columns stays near this so answers fit one UDP datagram.
VARBINDS_PER_REQUEST = 60


@dataclass
class DeviceStatus:
    device: Device
    up: bool = False
    last_error_kind: str | None = None
    last_error: str | None = None  # the message: names the target, never a secret
    last_poll_seconds: float | None = None
    last_success: float | None = None
    sys_uptime_seconds: float | None = None
    restarts: int = 0  # sysUpTime went back between two polls
    rows: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # table → index → labels

    def interface(self, if_index: str) -> dict[str, str]:
        """ifIndex → {if_name, if_alias, if_descr} from the newest interfaces poll ({} if unknown): the labels
        the polled interface series carry, so a link trap's alert names the port as the poll's alert does."""
        labels = self.rows.get("ifTable", {}).get(if_index, {})
        return {k: v for k, v in labels.items() if k in INTERFACE_LABELS}


@dataclass
class PollResult:
    device: str
    samples: dict[SeriesKey, float]
    info: dict[str, str]
    rows: dict[str, dict[str, dict[str, str]]]
    sys_uptime_seconds: float | None
    duration_seconds: float


def make_target(device: Device, settings: SnmpSettings, inventory: Inventory | None = None) -> Target:
    defaults = inventory.defaults if inventory is not None else None
    return Target(
        name=device.name,
        host=device.address,
        port=device.port,
        auth=auth_for(device),
        timeout_seconds=device.timeout_seconds
        or (defaults.timeout_seconds if defaults else None)
        or settings.default_timeout_seconds,
        retries=device.retries
        if device.retries is not None
        else (defaults.retries if defaults and defaults.retries is not None else settings.default_retries),
        use_getbulk=device.use_getbulk,
        max_repetitions=settings.max_repetitions,
        community=community_of(device),
        v3=device.v3,
    )


async def poll_once(client: SnmpClient, target: Target, profiles: Iterable[Profile]) -> PollResult:
    """Poll one device with its profiles: one GET for every scalar (plus sysUpTime), then each
    table's columns walked together. Raises ``SnmpError`` subclasses."""
    started = time.perf_counter()
    profiles = list(profiles)
    scalar_oids = list(dict.fromkeys([SYS_UPTIME, *(o for p in profiles for o in p.scalar_oids())]))
    scalars = await client.get(target, scalar_oids)
    tables: dict[str, dict[str, int | str]] = {}
    for p in profiles:
        for t in p.tables:
            columns = [c for c in t.walk_oids() if c not in tables]
            if not columns:
                continue
            reps = max(1, min(target.max_repetitions, VARBINDS_PER_REQUEST // len(columns)))
            tables.update(await client.walk(_with_reps(target, reps), columns))
    merged = Translation()
    for p in profiles:
        part = translate(p, scalars, tables)
        merged.samples.update(part.samples)
        merged.info.update(part.info)
        merged.rows.update(part.rows)
    uptime = scalars.get(SYS_UPTIME)
    if not merged.samples:  # it answers, but has nothing the profiles ask for: wrong profile or view
        raise SnmpNoSuchName(
            f"{target.name} ({target.where}): none of the profiles' OIDs exist on the device"
        )
    if isinstance(uptime, int):  # always kept: counters.source_rate() spots restarts with it
        merged.samples[series_key(SYS_UPTIME_METRIC)] = uptime / 100
    return PollResult(
        device=target.name,
        samples=merged.samples,
        info=merged.info,
        rows=merged.rows,
        sys_uptime_seconds=uptime / 100 if isinstance(uptime, int) else None,
        duration_seconds=time.perf_counter() - started,
    )


def _with_reps(target: Target, reps: int) -> Target:
    if reps == target.max_repetitions:
        return target
    return dataclasses.replace(target, max_repetitions=reps)


class Poller:
    def __init__(
        self,
        *,
        client: SnmpClient,
        state: State,
        clock: Clock,
        inventory: Inventory,
        profiles: dict[str, Profile],
        settings: SnmpSettings,
    ) -> None:
        self.client = client
        self.state = state
        self.clock = clock
        self.inventory = inventory
        self.profiles = profiles
        self.settings = settings
        self.status: dict[str, DeviceStatus] = {d.name: DeviceStatus(d) for d in inventory.devices}
        self._targets = {d.name: make_target(d, settings, inventory) for d in inventory.devices}
        # each device's counter widths and limits, the payload of its snapshots (the rules' rates read them)
        self._counters = {
            d.name: counter_specs(profiles[p] for p in inventory.profiles_of(d) if p in profiles)
            for d in inventory.devices
        }
        self._semaphore = asyncio.Semaphore(settings.max_concurrent_polls)
        self._running: set[str] = set()  # devices with a poll in flight
        self._again: set[str] = set()  # ... and a trap since it started: poll once more when it ends
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduler: AsyncIOScheduler | None = None
        # device name → when the newest authenticationFailure trap came from its address (the trap receiver's
        # ``last_auth_failure``; set by the component once the receiver exists)
        self.auth_failure_at: Callable[[str], float | None] | None = None
        for d in inventory.devices:
            self._upsert(d)

    def interval_of(self, device: Device) -> float:
        return (
            device.interval_seconds
            or self.inventory.defaults.interval_seconds
            or self.settings.default_interval_seconds
        )

    def _upsert(self, device: Device):  # type: ignore[no-untyped-def]
        return self.state.upsert_source(
            SourceKind.SNMP,
            device.name,
            labels=device.labels.as_dict(),
            interval_seconds=self.interval_of(device),
            parent=device.parent,
        )

    def find(self, name: str) -> DeviceStatus | None:
        return self.status.get(name)

    async def poll(self, name: str, *, follow_up: bool = False) -> DeviceStatus:
        """Poll one device now and write the state. If a poll of it is already running, a scheduled poll
        is skipped (the running one serves it), but with ``follow_up`` (a trap: the running poll may have
        asked before the change the trap reports) one more poll runs as soon as it ends; any number of
        such requests during one poll make one follow-up."""
        status = self.status[name]
        if name in self._running:
            if follow_up:
                self._again.add(name)
            return status
        self._running.add(name)
        try:
            while True:
                self._again.discard(name)
                await self._poll_now(name)
                if name not in self._again:
                    return status
        finally:
            self._running.discard(name)
            self._again.discard(name)

    async def _poll_now(self, name: str) -> None:
        status = self.status[name]
        async with self._semaphore:
            device = status.device
            profiles = [self.profiles[p] for p in self.inventory.profiles_of(device)]
            started_at = self.clock.time()
            started = time.perf_counter()
            source = self._upsert(device)
            try:
                result = await poll_once(self.client, self._targets[name], profiles)
            except SnmpError as raw:
                err = self._explain(device, raw)
                status.up = False
                status.last_error_kind = err.kind
                status.last_error = str(err)
                status.last_poll_seconds = time.perf_counter() - started
                self.state.mark_error(source, err.kind)
                log.info("snmp poll %s failed: %s: %s", name, err.kind, err)
                return
            except Exception as err:  # task boundary: one bad device never stops the poller
                status.up = False
                status.last_error_kind = "internal"
                status.last_error = type(err).__name__
                status.last_poll_seconds = time.perf_counter() - started
                self.state.mark_error(source, "internal")
                log.exception("snmp poll %s crashed", name)
                return
            if (
                result.sys_uptime_seconds is not None
                and status.sys_uptime_seconds is not None
                and result.sys_uptime_seconds < status.sys_uptime_seconds
            ):
                status.restarts += 1
                log.info("snmp device %s restarted (sysUpTime went back)", name)
            status.sys_uptime_seconds = result.sys_uptime_seconds
            status.up = True
            status.last_error_kind = status.last_error = None
            status.last_poll_seconds = result.duration_seconds
            status.last_success = self.clock.time()
            status.rows = result.rows
            source.info.update(result.info)
            self.state.record(
                source,
                Snapshot(started_at, self.clock.time(), samples=result.samples, payload=self._counters[name]),
            )

    def _explain(self, device: Device, err: SnmpError) -> SnmpError:
        """A v2c timeout while the device's address sends authenticationFailure traps is a wrong community
        (or an agent that does not accept our address): its agent got the requests and refused them."""
        if not isinstance(err, SnmpTimeout) or device.version != "2c" or self.auth_failure_at is None:
            return err
        seen = self.auth_failure_at(device.name)
        if seen is None:
            return err
        age = max(0.0, self.clock.time() - seen)
        if age > AUTH_TRAP_INTERVALS * self.interval_of(device):
            return err
        return SnmpBadCommunity(
            f"{device.name} ({self._targets[device.name].where}): no answer, and the device sent an "
            f"authenticationFailure trap {age:.0f}s ago: a wrong community (or the agent does not accept "
            "requests from this collector's address)"
        )

    async def poll_all(self) -> list[DeviceStatus]:
        return list(await asyncio.gather(*(self.poll(n) for n in self.status)))

    def trigger(self, name: str) -> None:
        """Re-poll a device as soon as possible (a trap arrived from it)."""
        if name not in self.status:
            return
        task = asyncio.get_running_loop().create_task(self.poll(name, follow_up=True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scheduled_poll(self, name: str) -> None:
        """The scheduler's job: a poll cancelled by shutdown ends quietly (apscheduler would log it as a
        failed job, with a traceback, on every ``systemctl stop``)."""
        with contextlib.suppress(asyncio.CancelledError):
            await self.poll(name)

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        for name, status in self.status.items():
            interval = self.interval_of(status.device)
            self._scheduler.add_job(
                self._scheduled_poll,
                "interval",
                seconds=interval,
                args=[name],
                id=f"snmp:{name}",
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
            )
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class SnmpStatusCollector(Collector):
    """``wardwatch_snmp_up``, ``_poll_duration_seconds``, ``_last_error_info`` per device."""

    def __init__(self, poller: Poller) -> None:
        self._poller = poller

    def collect(self) -> Iterator[Metric]:
        names = ["device", *ASSET_LABELS]
        up = GaugeMetricFamily(
            "wardwatch_snmp_up", "1 if the device's last SNMP poll succeeded.", labels=names
        )
        duration = GaugeMetricFamily(
            "wardwatch_snmp_poll_duration_seconds", "Wall time of the device's last SNMP poll.", labels=names
        )
        restarts = GaugeMetricFamily(
            "wardwatch_snmp_restarts_seen",
            "Times sysUpTime went back between two polls since start.",
            labels=names,
        )
        error = GaugeMetricFamily(
            "wardwatch_snmp_last_error_info",
            "The kind of the device's last poll failure (timeout, bad_community, unreachable, auth_failure, "
            "unknown_user, no_such_name, error_status, protocol_error, internal); absent while healthy.",
            labels=[*names, "kind"],
        )
        for name, st in self._poller.status.items():
            labels = st.device.labels.as_dict()
            values = [name, *(labels.get(k, "") for k in ASSET_LABELS)]
            up.add_metric(values, 1.0 if st.up else 0.0)
            restarts.add_metric(values, float(st.restarts))
            if st.last_poll_seconds is not None:
                duration.add_metric(values, st.last_poll_seconds)
            if st.last_error_kind is not None:
                error.add_metric([*values, st.last_error_kind], 1.0)
        yield up
        yield duration
        yield restarts
        yield error

    def describe(self) -> list[Metric]:
        return []
