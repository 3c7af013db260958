"""One collection cycle: run every probe and check, and build one report (a ``wire.Report``-shaped dict)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agent import __version__
from agent.config import AgentConfig
from agent.probes.blocking import BlockingCalls
from agent.probes.disks import sample_disks
from agent.probes.files import check_files
from agent.probes.filesystems import sample_filesystems
from agent.probes.http import HttpProber
from agent.probes.network import sample_interfaces
from agent.probes.ports import check_port
from agent.probes.processes import ProcessProbe
from agent.probes.sensors import sample_temperatures
from agent.probes.system import SystemProbe
from agent.report import SCHEMA_VERSION, Report, without_none

log = logging.getLogger(__name__)
T = TypeVar("T")


class ReportBuilder:
    """Owns the probes that keep state between cycles (CPU times, processes) and the HTTP checks."""

    def __init__(self, settings: AgentConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._seq = 0
        self._agent = without_none(
            host=settings.host, version=__version__, labels=settings.labels.as_dict(), parent=settings.parent
        )
        self._calls = BlockingCalls()
        self._system = SystemProbe()
        self._processes = ProcessProbe(settings.checks.processes)
        self._http: HttpProber | None = None
        if settings.checks.http:
            self._http = HttpProber(settings.checks.http, timeout_seconds=settings.timeouts.check_seconds)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def process_pids(self) -> dict[str, set[int]]:
        """The processes each process check counted in the last cycle (``agent.watch.ProcessWatch``)."""
        return self._processes.pids_by_check

    async def collect(self, *, prompt: bool = False) -> Report:
        """One report; ``prompt``: between regular cycles, asked for by ``agent.watch`` (CPU ratios are the last
        regular cycle's)."""
        timestamp = self._clock()
        self._seq += 1
        checks = self._settings.checks
        timeout = self._settings.timeouts.check_seconds
        system = self._system.sample(prompt)  # never optional: if this fails, the cycle fails
        filesystems, processes, ports, http, files = await asyncio.gather(
            _guard("filesystems", sample_filesystems(timeout, self._calls), []),
            _guard("processes", self._calls.run("processes", timeout, self._processes.sample, prompt), [])
            if checks.processes
            else _none(),  # no thread for nothing to scan
            asyncio.gather(*(check_port(c, timeout_seconds=timeout) for c in checks.ports)),
            _guard("http", self._http.check_all(), []) if self._http else _none(),
            asyncio.gather(
                *(check_files(c, timeout_seconds=timeout, calls=self._calls) for c in checks.files)
            ),
        )
        return {
            "schema": SCHEMA_VERSION,
            "agent": self._agent,
            "timestamp": timestamp,
            "seq": self._seq,
            "interval_seconds": self._settings.interval_seconds,
            "system": system,
            "filesystems": filesystems,
            "disks": _guard_sync("disks", sample_disks, []),
            "interfaces": _guard_sync("interfaces", sample_interfaces, []),
            "processes": processes,
            "ports": list(ports),
            "http": http,
            "files": list(files),
            "temperatures": _guard_sync("temperatures", sample_temperatures, [])
            if checks.temperatures
            else [],
        }


async def _none() -> list:
    return []


async def _guard(family: str, job: Awaitable[T], fallback: T) -> T:
    """A failing probe family is logged and left out of this report; the cycle goes on."""
    try:
        return await job
    except Exception as err:  # task boundary: one probe family
        log.warning("probe %s failed: %s: %s", family, type(err).__name__, err)
        return fallback


def _guard_sync(family: str, probe: Callable[[], T], fallback: T) -> T:
    try:
        return probe()
    except Exception as err:  # task boundary: one probe family
        log.warning("probe %s failed: %s: %s", family, type(err).__name__, err)
        return fallback
