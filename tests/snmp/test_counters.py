from __future__ import annotations

import pytest

from collector.snmp.counters import WRAP_32, counter_delta, rate, restarted_between, window_rate
from collector.state import Snapshot, SourceKind, State, series_key


def test_32_bit_counter_wraps_once() -> None:
    assert counter_delta(WRAP_32 - 100, 50, bits=32) == 150


def test_64_bit_counter_going_down_is_a_reset_not_a_huge_rate() -> None:
    assert counter_delta(10**15, 1000, bits=64) == 1000


def test_restart_counts_from_zero_even_for_32_bit() -> None:
    assert counter_delta(4_000_000_000, 500, bits=32, restarted=True) == 500


def test_implausible_wrap_is_treated_as_reset() -> None:
    # 32-bit "wrap" of ~4e9 between two polls: far likelier a silent reset than 4 GB in a minute.
    assert counter_delta(10, 5, bits=32) == 5


def test_delta_above_the_limit_is_dropped() -> None:
    assert counter_delta(0, 10**12, max_delta=10**9) is None


def test_restarted_between_uses_uptime_going_back() -> None:
    assert restarted_between(5000.0, 10.0)
    assert not restarted_between(10.0, 5000.0)
    assert not restarted_between(None, 10.0)


def test_rate_over_a_wrap_and_a_restart_is_never_negative() -> None:
    points = [(0.0, WRAP_32 - 1000.0), (60.0, 2000.0), (120.0, 8000.0), (180.0, 300.0)]
    uptimes = [(0.0, 1000.0), (60.0, 1060.0), (120.0, 1120.0), (180.0, 5.0)]
    # wrap: 3000, normal: 6000, restart: 300 → 9300 over 180 s
    assert rate(points, bits=32, uptimes=uptimes) == pytest.approx(9300 / 180)


def test_rate_skips_intervals_faster_than_the_link() -> None:
    points = [(0.0, 0.0), (60.0, 60_000.0), (120.0, 60_000.0 + 10**13)]
    assert rate(points, max_per_second=10_000) == pytest.approx(1000.0)


def test_rate_needs_two_points() -> None:
    assert rate([(0.0, 1.0)]) is None
    assert rate([(5.0, 1.0), (5.0, 2.0)]) is None


def test_window_rate_reads_the_state_and_sees_the_restart() -> None:
    state = State()
    src = state.upsert_source(SourceKind.SNMP, "sw", labels={}, interval_seconds=60)
    key = series_key("wardwatch_snmp_if_in_octets_total", if_index="1")
    uptime = series_key("wardwatch_snmp_sys_uptime_seconds")
    for t, octets, up in [(0.0, 1_000_000.0, 500.0), (60.0, 1_600_000.0, 560.0), (120.0, 6_000.0, 20.0)]:
        state.record(src, Snapshot(t, t, samples={key: octets, uptime: up}))
    # 600,000 in the first minute, 6,000 since the restart: never negative.
    assert window_rate(src, key) == pytest.approx(606_000 / 120)
