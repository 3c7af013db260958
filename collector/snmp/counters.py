"""Counter arithmetic for SNMP: 32-bit wrap, 64-bit counters and device restarts.

The state keeps raw counter values (Prometheus computes its own rates from /metrics). Rules that need
a rate over the state's window use ``rate()``; it never returns a negative or absurd value:

- a 32-bit counter that went down without a restart wrapped once at 2^32: delta = new + 2^32 - old;
- a device restart (sysUpTime went back) or a 64-bit counter going down is a reset: the counter
  started again from zero, so delta = new (what it counted since the restart);
- an interval whose delta would exceed ``max_delta`` (e.g. more than the link speed allows) is
  dropped rather than trusted.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from collector.state import SeriesKey, SourceState, series_key

WRAP_32 = 2**32
WRAP_64 = 2**64


def counter_delta(
    old: float, new: float, *, bits: int = 64, restarted: bool = False, max_delta: float | None = None
) -> float | None:
    """The increase between two readings, or None when it cannot be trusted."""
    if restarted:
        delta = new
    elif new >= old:
        delta = new - old
    elif bits == 32 and old < WRAP_32:
        delta = new + WRAP_32 - old
        if delta >= WRAP_32 / 2:
            # A wrap this large is more likely a silent reset (agent restart without sysUpTime).
            delta = new
    else:
        delta = new  # a 64-bit counter never wraps in practice: this is a reset
    if delta < 0 or (max_delta is not None and delta > max_delta):
        return None
    return delta


def restarted_between(uptime_old: float | None, uptime_new: float | None) -> bool:
    """sysUpTime (seconds) going back means the agent restarted in between."""
    return uptime_old is not None and uptime_new is not None and uptime_new < uptime_old


def rate(
    points: Sequence[tuple[float, float]],
    *,
    bits: int = 64,
    uptimes: Sequence[tuple[float, float]] = (),
    max_per_second: float | None = None,
) -> float | None:
    """Per-second increase over ``points`` ``[(timestamp, value), ...]`` (ascending).

    ``uptimes`` are the device's sysUpTime readings ``[(timestamp, seconds), ...]`` for the same
    polls; when given, a drop between two polls marks a restart. Returns None with fewer than two
    points or no usable interval.
    """
    if len(points) < 2:
        return None
    uptime_at = dict(uptimes)
    total = 0.0
    seconds = 0.0
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        dt = t1 - t0
        if dt <= 0:
            continue
        limit = max_per_second * dt if max_per_second is not None else None
        delta = counter_delta(
            v0,
            v1,
            bits=bits,
            restarted=restarted_between(uptime_at.get(t0), uptime_at.get(t1)),
            max_delta=limit,
        )
        if delta is None:
            continue
        total += delta
        seconds += dt
    if seconds == 0:
        return None
    return total / seconds


def window_rate(
    source: SourceState, key: SeriesKey, *, bits: int = 64, max_per_second: float | None = None
) -> float | None:
    """``rate()`` of one counter series over a source's window in the state, with the device's
    sysUpTime (``wardwatch_snmp_sys_uptime_seconds``, recorded on every poll) marking restarts."""
    uptimes = source.series_window(series_key("wardwatch_snmp_sys_uptime_seconds"))
    return rate(source.series_window(key), bits=bits, uptimes=uptimes, max_per_second=max_per_second)
