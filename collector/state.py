"""The collector's view of the world: one object, written by ingest, SNMP polls and traps; read by
exposition, rules and inspections.

Shape: a *source* is one monitored asset (an agent's host, an SNMP device). Each source keeps its
asset labels and a short, time-ordered window of *snapshots*; a snapshot is everything one
observation measured: ``{SeriesKey: value}``. The latest sample of a series is the series' value in
the latest snapshot (the newest current one, see below); its window is the same key across the window's
snapshots.

Keeping whole snapshots (instead of one ring buffer per series) makes ingest O(1) per report: the
agent report is kept as it came and flattened into series only when something reads it, once.

Current and late: a snapshot recorded with ``current=False`` (an agent report that was already stale when it
arrived: spooled during an outage and replayed) joins the window in timestamp order, where rates and
history use it, but is never the source's latest values nor a sign of life, even when it is the newest in
the window. ``latest()`` is the newest snapshot that was current when it arrived; ``last_seen`` is when it
arrived. So a replay of hours-old reports cannot show old values as current on ``/metrics`` or to the rules.

No locks: everything runs on the collector's one event loop.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# (metric name, ((label, value), ...) sorted by label) — asset labels are NOT part of the key: they
# belong to the source and are added on exposition.
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
Samples = Mapping[SeriesKey, float]


def series_key(name: str, **labels: str) -> SeriesKey:
    return (name, tuple(sorted(labels.items())))


class SourceKind(StrEnum):
    AGENT = "agent"
    SNMP = "snmp"


class Snapshot:
    """One observation of one source. ``samples`` may be given, or computed once on first read."""

    __slots__ = ("_flatten", "_samples", "payload", "received_at", "timestamp")

    def __init__(
        self,
        timestamp: float,
        received_at: float,
        *,
        samples: Samples | None = None,
        flatten: Callable[[], Samples] | None = None,
        payload: object = None,
    ) -> None:
        if (samples is None) == (flatten is None):
            raise ValueError("give exactly one of samples= or flatten=")
        self.timestamp = timestamp  # when it was measured (the source's clock)
        self.received_at = received_at  # the collector's clock when it arrived
        self.payload = payload  # the original (e.g. the agent Report), for readers that want it
        self._samples = samples
        self._flatten = flatten

    @property
    def samples(self) -> Samples:
        if self._samples is None:
            assert self._flatten is not None
            self._samples = self._flatten()
            self._flatten = None
        return self._samples


@dataclass
class SourceState:
    kind: SourceKind
    name: str  # host name or device name; unique within its kind
    labels: dict[str, str]  # asset labels: site, system, role, department, room, rack, ...
    interval_seconds: float
    parent: str | None = None
    window: list[Snapshot] = field(default_factory=list)  # ascending by timestamp, late snapshots included
    current: Snapshot | None = None  # the newest snapshot that was current when it arrived (see latest())
    last_seen: float | None = None  # collector clock when ``current`` arrived
    last_error: str | None = None  # e.g. SNMP "timeout"; None while healthy
    clock_skew_seconds: float | None = None  # source clock minus collector clock (agents)
    info: dict[str, str] = field(default_factory=dict)  # e.g. agent version, sysDescr

    def latest(self) -> Snapshot | None:
        """The source's current values: its newest snapshot that was current when it arrived. A late one
        (replayed from an agent's spool) may be newer in the window, but is never the latest."""
        return self.current

    def is_up(self, now: float, *, stale_after_intervals: float) -> bool:
        if self.last_error is not None or self.last_seen is None:
            return False
        return now - self.last_seen <= self.interval_seconds * stale_after_intervals

    def series_window(self, key: SeriesKey) -> list[tuple[float, float]]:
        """``[(timestamp, value), ...]`` ascending, for one series across the window."""
        out = []
        for snap in self.window:
            value = snap.samples.get(key)
            if value is not None:
                out.append((snap.timestamp, value))
        return out


class RecordOutcome(StrEnum):
    LATEST = "latest"  # current, and newer than the source's latest: now its latest
    LATE = "late"  # not the latest (older than it, or stale on arrival): in the window in timestamp order
    TOO_OLD = "too_old"  # older than the window: not kept
    DUPLICATE = "duplicate"  # same timestamp as one already kept


class State:
    """Latest sample per series plus a short window, per source."""

    def __init__(self, *, window_seconds: float = 900.0, max_snapshots: int = 120) -> None:
        self.window_seconds = window_seconds
        self.max_snapshots = max_snapshots
        self._sources: dict[tuple[SourceKind, str], SourceState] = {}
        self._listeners: list[Callable[[SourceState, Snapshot], None]] = []

    # -- writers -------------------------------------------------------------------------------
    def upsert_source(
        self,
        kind: SourceKind,
        name: str,
        *,
        labels: Mapping[str, str],
        interval_seconds: float,
        parent: str | None = None,
    ) -> SourceState:
        key = (kind, name)
        src = self._sources.get(key)
        if src is None:
            src = SourceState(kind, name, dict(labels), interval_seconds, parent)
            self._sources[key] = src
        else:
            if src.labels != labels:
                src.labels = dict(labels)
            src.interval_seconds = interval_seconds
            src.parent = parent
        return src

    def record(self, source: SourceState, snapshot: Snapshot, *, current: bool = True) -> RecordOutcome:
        """Insert a snapshot in timestamp order and trim the window; tell listeners of every snapshot kept.

        ``current``: the snapshot was fresh when it arrived (a poll that just answered, an agent report sent
        in its own cycle). Only a current snapshot newer than the latest becomes the latest (LATEST) and
        refreshes ``last_seen``; any other kept snapshot is LATE: in the window, for rates and history only.
        """
        window = source.window
        ts = snapshot.timestamp
        if not window or ts > window[-1].timestamp:  # the usual case: the newest
            window.append(snapshot)
        else:
            if ts < window[-1].timestamp - self.window_seconds:
                return RecordOutcome.TOO_OLD
            i = bisect.bisect_left(window, ts, key=lambda s: s.timestamp)
            if i < len(window) and window[i].timestamp == ts:
                return RecordOutcome.DUPLICATE
            window.insert(i, snapshot)
        latest = source.current
        if current and (latest is None or ts > latest.timestamp):
            outcome = RecordOutcome.LATEST
            source.current = snapshot
            source.last_seen = snapshot.received_at
            source.last_error = None
        else:
            outcome = RecordOutcome.LATE
        self._trim(window)
        for listener in self._listeners:
            listener(source, snapshot)
        return outcome

    def mark_error(self, source: SourceState, error: str) -> None:
        source.last_error = error

    def remove_source(self, kind: SourceKind, name: str) -> None:
        self._sources.pop((kind, name), None)

    def _trim(self, window: list[Snapshot]) -> None:
        newest = window[-1].timestamp
        drop = 0
        limit = newest - self.window_seconds
        while drop < len(window) - 1 and window[drop].timestamp < limit:
            drop += 1
        drop = max(drop, len(window) - self.max_snapshots)
        if drop > 0:
            del window[:drop]

    # -- readers -------------------------------------------------------------------------------
    def sources(self, kind: SourceKind | None = None) -> Iterator[SourceState]:
        for (k, _), src in self._sources.items():
            if kind is None or k is kind:
                yield src

    def get(self, kind: SourceKind, name: str) -> SourceState | None:
        return self._sources.get((kind, name))

    def __len__(self) -> int:
        return len(self._sources)

    def subscribe(self, listener: Callable[[SourceState, Snapshot], None]) -> None:
        """Called synchronously after every recorded snapshot (latest or late): rules use this to
        evaluate a source immediately instead of on the next tick. Listeners must be cheap and must
        not raise."""
        self._listeners.append(listener)
