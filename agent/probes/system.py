"""CPU, load, memory, swap, boot time, process and user counts."""

from __future__ import annotations

import os
from typing import Any

import psutil

# Modes that count as "not busy" for usage_ratio.
_IDLE_MODES = ("idle", "iowait")


def _modes(times: Any) -> dict[str, float]:
    return {name: float(getattr(times, name)) for name in times._fields}


class SystemProbe:
    """Keeps the previous CPU times so ratios cover the last cycle, not the time since boot."""

    def __init__(self) -> None:
        self._previous: dict[str, float] | None = None
        self._last_cpu: dict[str, Any] | None = None
        self._cpu_count = psutil.cpu_count() or 1

    def sample(self, prompt: bool = False) -> dict[str, Any]:
        """A ``wire.SystemSample``. A prompt sample (between cycles, see ``agent.watch``) repeats the CPU of the
        last regular cycle: ratios over the few milliseconds since then would be noise."""
        cpu = self._last_cpu if prompt and self._last_cpu is not None else self._cpu()
        load1, load5, load15 = os.getloadavg()
        return {
            "load1": load1,
            "load5": load5,
            "load15": load15,
            "boot_time_seconds": psutil.boot_time(),
            "processes": len(psutil.pids()),
            "users": len(psutil.users()),
            "cpu": cpu,
            "memory": _memory(),
        }

    def _cpu(self) -> dict[str, Any]:
        # guest/guest_nice are already included in user/nice on Linux: leave them out of the sum.
        now = {k: max(0.0, v) for k, v in _modes(psutil.cpu_times()).items() if not k.startswith("guest")}
        previous, self._previous = self._previous, now
        if previous is None:
            base = dict.fromkeys(now, 0.0)  # first cycle: ratios since boot
        else:
            base = previous
        deltas = {k: max(0.0, now[k] - base.get(k, 0.0)) for k in now}
        elapsed = sum(deltas.values())
        if elapsed <= 0:
            mode_ratio = dict.fromkeys(now, 0.0)
            mode_ratio["idle"] = 1.0
        else:
            mode_ratio = {k: min(1.0, v / elapsed) for k, v in deltas.items()}
        busy = 1.0 - sum(mode_ratio.get(m, 0.0) for m in _IDLE_MODES)
        self._last_cpu = {
            "usage_ratio": min(1.0, max(0.0, busy)),
            "mode_ratio": mode_ratio,
            "mode_seconds_total": now,
            "count": self._cpu_count,
        }
        return self._last_cpu


def _memory() -> dict[str, int]:
    vm = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return {
        "total_bytes": vm.total,
        "available_bytes": vm.available,
        "used_bytes": max(0, vm.used),
        "swap_total_bytes": swap.total,
        "swap_used_bytes": max(0, swap.used),
    }
