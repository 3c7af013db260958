"""Counter rates over the state's window: 32-bit wrap, 64-bit counters, device restarts, bad readings.

The state keeps raw counter values (Prometheus computes its own rates from /metrics). The rules' ``rate``
condition (``alerting.rule_conditions``) takes its rates here, for every source: ``source_rate()`` for one
series of one source, ``rate()`` for a list of points. Between two readings of a counter:

- it went up: that is the increase;
- it went down, and the reading after it is back at or above the one before the drop: the low reading was
  a bad one (an agent answering 0 for a moment), so the increase is taken across it, from the reading before
  the drop to the one after;
- it went down and is a 32-bit counter (the profile's ``bits: 32``): it wrapped once at 2^32, unless that
  would make it count more than 2^31 in one interval (far likelier a reset);
- it went down otherwise: it was reset and counts again from zero (Prometheus' rule), so the increase is the
  new value;
- the device restarted in between (its sysUpTime, ``wardwatch_snmp_sys_uptime_seconds``, went back): the
  interval is left out, whatever the counter did;
- the increase is more than ``LIMIT_SLACK`` times what the interface can carry in that time (the profile's
  ``max_rate``: the link speed in bytes/s for octets, and as packets and errors are at least a byte each,
  for those too): the interval is left out, not trusted.

The rate is the sum of the increases over the sum of the kept intervals' lengths: never negative, and with a
known limit never more than ``LIMIT_SLACK`` times what the link allows. None with fewer than two readings in the window or no interval
kept.

What an SNMP source's counters are (width, limit) comes from its profiles: the poller puts the device's
``CounterSpecs`` on every snapshot it records (``Snapshot.payload``). Sources without them (agents, rule unit
tests) get 64-bit counters without a limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from collector.state import SeriesKey, SourceKind, SourceState, series_key

if TYPE_CHECKING:
    from collector.snmp.profiles import Profile

WRAP_32 = 2**32
SYS_UPTIME_METRIC = "wardwatch_snmp_sys_uptime_seconds"  # every SNMP poll records it
SYS_UPTIME_KEY = series_key(SYS_UPTIME_METRIC)
# An interval is dropped when it counted more than this many times its limit: ifHighSpeed is rounded to
# whole Mbit/s, and a poll's timestamp is when it started, not when the counter was read.
LIMIT_SLACK = 2.0

Points = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class CounterSpec:
    bits: Literal[32, 64] = 64
    # a gauge of the same table row: the most this counter can grow per second (e.g. link speed, bytes/s)
    max_rate: str | None = None
    # the columns' constant labels (cast: unicast, ...): the row's max_rate series does not have them
    column_labels: frozenset[str] = frozenset()


DEFAULT_SPEC = CounterSpec()


@dataclass(frozen=True)
class CounterSpecs:
    """What a device's counter metrics are, from its profiles; the payload of its polls' snapshots."""

    by_metric: Mapping[str, CounterSpec] = field(default_factory=dict)

    def of(self, metric: str) -> CounterSpec:
        return self.by_metric.get(metric, DEFAULT_SPEC)


def counter_specs(profiles: Iterable[Profile]) -> CounterSpecs:
    """The counters of a device with these profiles. A metric two profiles declare with different widths or
    limits is taken as 64-bit without a limit: a drop is then a reset, which never makes a huge rate."""
    found: dict[str, CounterSpec] = {}
    conflicting: set[str] = set()
    for profile in profiles:
        for column in profile.columns():
            if column.type != "counter":
                continue
            spec = CounterSpec(column.bits, column.max_rate, frozenset(column.labels))
            known = found.get(column.metric)
            if known is None:
                found[column.metric] = spec
            elif (known.bits, known.max_rate) != (spec.bits, spec.max_rate):
                conflicting.add(column.metric)
            else:
                found[column.metric] = CounterSpec(
                    known.bits, known.max_rate, known.column_labels | spec.column_labels
                )
    for metric in conflicting:
        found[metric] = DEFAULT_SPEC
    return CounterSpecs(found)


def rate(
    points: Points,
    *,
    window_seconds: float | None = None,
    bits: int = 64,
    uptimes: Points = (),
    limits: Points = (),
) -> float | None:
    """Per-second increase over ``points`` ``[(timestamp, value), ...]`` (ascending), the last
    ``window_seconds`` of them if given. ``uptimes``: the device's sysUpTime readings, ``limits``: the most
    the counter can grow per second, both ``[(timestamp, value), ...]`` of the same polls."""
    uptime_at = dict(uptimes)
    limit_at = dict(limits)

    def restarted(t0: float, t1: float) -> bool:
        u0, u1 = uptime_at.get(t0), uptime_at.get(t1)
        return u0 is not None and u1 is not None and u1 < u0

    # Bad readings go first, judged with the points before the window too: a bad reading that is the window's
    # first point would otherwise be a reset to near zero, and the recovery after it a huge increase.
    points = _without_bad_readings(points, restarted)
    if window_seconds is not None and points:
        start = points[-1][0] - window_seconds
        points = [p for p in points if p[0] >= start]
    total = seconds = 0.0
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if t1 <= t0 or restarted(t0, t1):
            continue
        if v1 >= v0:
            delta = v1 - v0
        elif bits == 32 and v0 < WRAP_32 and v1 + WRAP_32 - v0 < WRAP_32 / 2:
            delta = v1 + WRAP_32 - v0
        else:
            delta = v1  # reset: counting again from zero
        limit = _limit(limit_at, t0, t1)
        if limit is None or delta <= limit * LIMIT_SLACK * (t1 - t0):
            total += delta
            seconds += t1 - t0
    return total / seconds if seconds > 0 else None


def _without_bad_readings(points: Points, restarted: Callable[[float, float], bool]) -> Points:
    """Drop each reading that is lower than the one before it while the one after it is back at or above
    that one (an agent answering 0, or a stale value, for one poll), unless the device restarted around it."""
    bad = {
        k
        for k in range(1, len(points) - 1)
        if points[k][1] < points[k - 1][1] <= points[k + 1][1]
        and not restarted(points[k - 1][0], points[k][0])
        and not restarted(points[k][0], points[k + 1][0])
    }
    return [p for k, p in enumerate(points) if k not in bad] if bad else points


def _limit(limit_at: Mapping[float, float], t0: float, t1: float) -> float | None:
    known = [v for v in (limit_at.get(t0), limit_at.get(t1)) if v is not None and v > 0]
    return max(known) if known else None  # 0 (ifHighSpeed of a virtual port) means unknown


def source_rate(
    source: SourceState,
    key: SeriesKey,
    window_seconds: float,
    *,
    read: Callable[[SeriesKey], Points] | None = None,
) -> float | None:
    """``rate()`` of one counter series of a source over the last ``window_seconds`` of its window: width and
    limit from the specs on its newest snapshot, restarts from its sysUpTime. ``read`` reads a series' window
    (default ``source.series_window``; the rules pass their per-evaluation cache)."""
    read = read or source.series_window
    latest = source.latest()
    payload = latest.payload if latest is not None else None
    spec = payload.of(key[0]) if isinstance(payload, CounterSpecs) else DEFAULT_SPEC
    uptimes = read(SYS_UPTIME_KEY) if source.kind is SourceKind.SNMP else ()
    limits: Points = ()
    if spec.max_rate is not None:
        row = {k: v for k, v in key[1] if k not in spec.column_labels}
        limits = read(series_key(spec.max_rate, **row))
    return rate(read(key), window_seconds=window_seconds, bits=spec.bits, uptimes=uptimes, limits=limits)
