"""Process checks: how many processes match, and their CPU and memory."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psutil

from agent.config import ProcessCheckConfig


class ProcessProbe:
    """Keeps ``psutil.Process`` objects between cycles so CPU ratios cover the last cycle.

    A prompt sample (between cycles, see ``agent.watch``) counts afresh but reports each process's CPU ratio
    of the last regular cycle: a ratio over the few milliseconds since then would be noise, and measuring it
    would move the baseline of the next regular one."""

    def __init__(self, checks: Sequence[ProcessCheckConfig]) -> None:
        self._checks = checks
        self._regexes = {c.name: re.compile(c.cmdline_regex) for c in checks if c.cmdline_regex}
        self._known: dict[int, psutil.Process] = {}
        self._cpu: dict[int, float] = {}  # pid -> CPU ratio over the last regular cycle
        self.pids_by_check: dict[str, set[int]] = {}  # what the last sample counted, per check
        # Reading every command line costs a /proc read per process: only when a check needs it.
        self._attrs = ["name", "status", "cmdline"] if self._regexes else ["name", "status"]

    def _matches(self, check: ProcessCheckConfig, name: str, cmdline: str) -> bool:
        if check.process_name is not None:
            return name == check.process_name
        return self._regexes[check.name].search(cmdline) is not None

    def sample(self, prompt: bool = False) -> list[dict[str, Any]]:
        """``wire.ProcessCheck`` per check. Blocking (reads /proc for every process): run it in a thread."""
        if not self._checks:
            return []
        totals = {c.name: [0, 0.0, 0] for c in self._checks}
        pids: dict[str, set[int]] = {c.name: set() for c in self._checks}
        alive: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(self._attrs):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue  # exited, not yet reaped by its parent: not running
            name = proc.info["name"] or ""
            cmdline = " ".join(proc.info.get("cmdline") or ())
            hits = [c.name for c in self._checks if self._matches(c, name, cmdline)]
            if not hits:
                continue
            # Reuse the object from the previous cycle (same pid and create time) for cpu_percent.
            known = self._known.get(proc.pid)
            if known is not None and known == proc:
                proc = known
            try:
                if prompt:
                    cpu = self._cpu.get(proc.pid, 0.0) if proc is known else 0.0
                else:
                    cpu = self._cpu[proc.pid] = proc.cpu_percent(None) / 100.0
                rss = proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            alive[proc.pid] = proc
            for check_name in hits:
                t = totals[check_name]
                t[0] += 1
                t[1] += cpu
                t[2] += rss
                pids[check_name].add(proc.pid)
        self._known = alive
        self._cpu = {pid: ratio for pid, ratio in self._cpu.items() if pid in alive}
        self.pids_by_check = pids
        return [
            {"name": name, "count": int(t[0]), "cpu_ratio": max(0.0, float(t[1])), "rss_bytes": int(t[2])}
            for name, t in totals.items()
        ]
