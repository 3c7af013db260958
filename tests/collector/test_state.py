from __future__ import annotations

import pytest

from collector.state import RecordOutcome, Snapshot, SourceKind, State, series_key

KEY = series_key("wardwatch_load1")


def snap(ts: float, value: float = 1.0) -> Snapshot:
    return Snapshot(ts, ts, samples={KEY: value})


def test_window_is_time_ordered_and_trimmed_by_age():
    state = State(window_seconds=60, max_snapshots=100)
    src = state.upsert_source(SourceKind.AGENT, "h", labels={}, interval_seconds=15)
    for ts in (100, 115, 130, 145, 160, 175):
        assert state.record(src, snap(ts, ts)) is RecordOutcome.LATEST
    assert [s.timestamp for s in src.window] == [115, 130, 145, 160, 175]
    assert src.series_window(KEY) == [(115, 115), (130, 130), (145, 145), (160, 160), (175, 175)]


def test_late_snapshot_inserted_in_order_too_old_dropped_duplicate_ignored():
    state = State(window_seconds=60, max_snapshots=100)
    src = state.upsert_source(SourceKind.AGENT, "h", labels={}, interval_seconds=15)
    state.record(src, snap(200))
    assert state.record(src, snap(170)) is RecordOutcome.LATE
    assert state.record(src, snap(185)) is RecordOutcome.LATE
    assert state.record(src, snap(185)) is RecordOutcome.DUPLICATE
    assert state.record(src, snap(100)) is RecordOutcome.TOO_OLD
    assert [s.timestamp for s in src.window] == [170, 185, 200]
    assert src.latest().timestamp == 200
    assert src.last_seen == 200  # late snapshots do not make a silent source look fresh


def test_window_is_trimmed_by_count():
    state = State(window_seconds=10_000, max_snapshots=3)
    src = state.upsert_source(SourceKind.SNMP, "sw", labels={"site": "a"}, interval_seconds=60)
    for ts in range(10):
        state.record(src, snap(ts))
    assert [s.timestamp for s in src.window] == [7, 8, 9]


def test_up_depends_on_freshness_and_errors():
    state = State()
    src = state.upsert_source(SourceKind.SNMP, "sw", labels={}, interval_seconds=60)
    assert not src.is_up(1000, stale_after_intervals=3)
    state.record(src, snap(1000))
    assert src.is_up(1000 + 180, stale_after_intervals=3)
    assert not src.is_up(1000 + 181, stale_after_intervals=3)
    state.mark_error(src, "timeout")
    assert not src.is_up(1000, stale_after_intervals=3)
    state.record(src, snap(1060))
    assert src.last_error is None and src.is_up(1060, stale_after_intervals=3)


def test_listeners_hear_every_recorded_snapshot_but_not_rejected_ones():
    state = State(window_seconds=60)
    heard = []
    state.subscribe(lambda src, s: heard.append((src.name, s.timestamp)))
    src = state.upsert_source(SourceKind.AGENT, "h", labels={}, interval_seconds=15)
    state.record(src, snap(100))
    state.record(src, snap(90))
    state.record(src, snap(90))
    state.record(src, snap(1))
    assert heard == [("h", 100), ("h", 90)]


def test_lazy_samples_are_computed_once():
    calls = []

    def flatten():
        calls.append(1)
        return {KEY: 2.0}

    s = Snapshot(1, 1, flatten=flatten)
    assert s.samples[KEY] == 2.0 and s.samples[KEY] == 2.0
    assert calls == [1]
    with pytest.raises(ValueError):
        Snapshot(1, 1)


def test_labels_update_on_upsert():
    state = State()
    state.upsert_source(SourceKind.AGENT, "h", labels={"site": "a"}, interval_seconds=15)
    src = state.upsert_source(SourceKind.AGENT, "h", labels={"site": "b"}, interval_seconds=30)
    assert src.labels == {"site": "b"} and src.interval_seconds == 30 and len(state) == 1


def test_a_snapshot_stale_on_arrival_joins_the_window_but_is_never_the_latest():
    state = State(window_seconds=600, max_snapshots=100)
    heard = []
    state.subscribe(lambda src, s: heard.append(s.timestamp))
    src = state.upsert_source(SourceKind.AGENT, "h", labels={}, interval_seconds=15)
    assert state.record(src, Snapshot(100, 105, samples={KEY: 1.0})) is RecordOutcome.LATEST
    # A replay: newer than the latest, but already stale when it came.
    for ts in (115, 130, 145):
        assert state.record(src, Snapshot(ts, 900, samples={KEY: ts}), current=False) is RecordOutcome.LATE
    assert src.latest().timestamp == 100 and src.latest().samples[KEY] == 1.0
    assert src.last_seen == 105  # no sign of life either
    assert src.series_window(KEY) == [(100, 1.0), (115, 115), (130, 130), (145, 145)]  # rates see them
    assert heard == [100, 115, 130, 145]
    # The fresh report: the latest again; replayed ones after it stay late.
    assert state.record(src, Snapshot(950, 951, samples={KEY: 9.0})) is RecordOutcome.LATEST
    assert state.record(src, Snapshot(400, 952, samples={KEY: 4.0}), current=False) is RecordOutcome.LATE
    assert state.record(src, Snapshot(945, 953, samples={KEY: 8.0})) is RecordOutcome.LATE  # current, older
    assert state.record(src, Snapshot(130, 954, samples={KEY: 0.0}), current=False) is RecordOutcome.TOO_OLD
    assert src.latest().samples[KEY] == 9.0 and src.last_seen == 951
    assert [s.timestamp for s in src.window] == [400, 945, 950]


def test_a_source_heard_only_through_a_replay_has_no_latest_values():
    state = State(window_seconds=600)
    src = state.upsert_source(SourceKind.AGENT, "h", labels={}, interval_seconds=15)
    assert state.record(src, snap(100), current=False) is RecordOutcome.LATE
    assert state.record(src, snap(115), current=False) is RecordOutcome.LATE
    assert src.latest() is None and src.last_seen is None
    assert not src.is_up(115, stale_after_intervals=3)
    assert [s.timestamp for s in src.window] == [100, 115]
