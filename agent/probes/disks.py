"""Disk I/O counters per block device."""

from __future__ import annotations

from typing import Any

import psutil

from agent.report import fits

_SKIP_PREFIXES = ("loop", "ram", "zram", "fd", "sr")


def sample_disks() -> list[dict[str, Any]]:
    """``wire.DiskSample`` per block device."""
    counters = psutil.disk_io_counters(perdisk=True, nowrap=True) or {}
    return [
        {
            "device": name,
            "read_bytes_total": c.read_bytes,
            "written_bytes_total": c.write_bytes,
            "reads_total": c.read_count,
            "writes_total": c.write_count,
            "io_time_seconds_total": getattr(c, "busy_time", 0) / 1000.0,
        }
        for name, c in sorted(counters.items())
        if not name.startswith(_SKIP_PREFIXES) and fits(name)
    ]
