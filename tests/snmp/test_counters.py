from __future__ import annotations

from pathlib import Path

import pytest

from collector.snmp.counters import (
    DEFAULT_SPEC,
    WRAP_32,
    CounterSpec,
    CounterSpecs,
    counter_specs,
    rate,
    source_rate,
)
from collector.snmp.profiles import ProfileError, load_profiles, parse_profile
from collector.state import Snapshot, SourceKind, State, series_key

SPEED = "wardwatch_snmp_if_speed_bytes_per_second"


def test_a_32_bit_counter_that_went_down_wrapped_once() -> None:
    assert rate([(0.0, WRAP_32 - 100.0), (60.0, 50.0)], bits=32) == pytest.approx(150 / 60)


def test_a_64_bit_counter_that_went_down_was_reset_not_a_huge_rate() -> None:
    assert rate([(0.0, 1e15), (60.0, 1000.0)], bits=64) == pytest.approx(1000 / 60)


def test_a_32_bit_wrap_counting_more_than_half_the_range_is_a_reset() -> None:
    # a "wrap" of ~4e9 in one interval is far likelier a silent reset than 4 billion errors in a minute
    assert rate([(0.0, 10.0), (60.0, 5.0)], bits=32) == pytest.approx(5 / 60)


def test_the_interval_across_a_restart_is_left_out_even_for_32_bit() -> None:
    points = [(0.0, 4_000_000_000.0), (60.0, 500.0), (120.0, 1100.0)]
    uptimes = [(0.0, 9000.0), (60.0, 30.0), (120.0, 90.0)]
    # a wrap would be +794,967,796; a reset +500: neither, the interval is dropped and 600 in 60 s remain
    assert rate(points, bits=32, uptimes=uptimes) == pytest.approx(10.0)
    assert rate(points[:2], bits=32, uptimes=uptimes) is None  # nothing kept


def test_a_counter_that_continues_across_an_agent_restart_is_still_left_out() -> None:
    # agent restarted (uptime back) while the hardware counters kept counting: trust neither reading pair
    points = [(0.0, 1000.0), (60.0, 1600.0), (120.0, 9_000_000.0), (180.0, 9_000_060.0)]
    uptimes = [(0.0, 500.0), (60.0, 560.0), (120.0, 5.0), (180.0, 65.0)]
    assert rate(points, uptimes=uptimes) == pytest.approx((600 + 60) / 120)


def test_one_low_reading_between_two_that_agree_is_a_bad_reading_not_a_reset() -> None:
    # 123,456 errors, one poll answers 0, the next 123,460: 4 errors in two minutes, not 123,460
    points = [(0.0, 123_456.0), (60.0, 0.0), (120.0, 123_460.0)]
    assert rate(points, bits=32) == pytest.approx(4 / 120)
    assert rate(points, bits=64) == pytest.approx(4 / 120)
    # while the low reading is the newest, it is a reset: small, never huge
    assert rate(points[:2]) == pytest.approx(0.0)
    # it stays low: a reset, counted from zero
    assert rate([(0.0, 123_456.0), (60.0, 10.0), (120.0, 70.0)]) == pytest.approx(70 / 120)


def test_an_interval_above_the_link_limit_is_not_reported() -> None:
    points = [(0.0, 0.0), (60.0, 60_000.0), (120.0, 60_000.0 + 10**13)]
    limits = [(0.0, 10_000.0), (60.0, 10_000.0), (120.0, 10_000.0)]
    assert rate(points, limits=limits) == pytest.approx(1000.0)
    # twice the link is still believed (ifHighSpeed rounding, poll timing); more is not
    assert rate([(0.0, 0.0), (60.0, 1_200_000.0)], limits=[(0.0, 10_000.0)]) == pytest.approx(20_000.0)
    assert rate([(0.0, 0.0), (60.0, 1_200_001.0)], limits=[(0.0, 10_000.0)]) is None
    # a speed of 0 (virtual port, unknown) limits nothing
    assert rate([(0.0, 0.0), (60.0, 10.0**13)], limits=[(0.0, 0.0), (60.0, 0.0)]) == pytest.approx(
        10**13 / 60
    )


def test_rate_keeps_the_window_and_needs_two_points() -> None:
    assert rate([(0.0, 1.0)]) is None
    assert rate([(5.0, 1.0), (5.0, 2.0)]) is None
    assert rate([(0.0, 100.0), (10.0, 200.0), (100.0, 300.0)], window_seconds=50) is None
    assert rate([(0.0, 0.0), (60.0, 6000.0), (120.0, 6060.0)], window_seconds=60) == pytest.approx(1.0)


def test_the_interfaces_profile_declares_widths_and_the_link_speed_as_limit() -> None:
    specs = counter_specs([load_profiles()["interfaces"]])
    assert specs.of("wardwatch_snmp_if_in_errors_total") == CounterSpec(32, SPEED)
    assert specs.of("wardwatch_snmp_if_in_octets_total") == CounterSpec(64, SPEED)
    assert specs.of("wardwatch_snmp_if_in_packets_total") == CounterSpec(64, SPEED, frozenset({"cast"}))
    assert specs.of("wardwatch_snmp_nothing_total") is DEFAULT_SPEC
    # every shipped counter says how wide it is
    for profile in load_profiles().values():
        for column in profile.columns():
            assert column.type != "counter" or "bits" in column.model_fields_set, column.metric


def _profile(name: str, bits: int, max_rate: str | None = None) -> dict[str, object]:
    column: dict[str, object] = {"oid": "1.3.6.1.2", "metric": "wardwatch_snmp_x_total", "type": "counter"}
    column["bits"] = bits
    if max_rate:
        column["max_rate"] = max_rate
    return {
        "name": name,
        "tables": [
            {
                "name": "t",
                "index": ["i"],
                "columns": [column, {"oid": "1.3.6.1.3", "metric": "wardwatch_snmp_speed", "type": "gauge"}],
            }
        ],
    }


def test_profiles_disagreeing_on_a_counter_make_it_64_bit_without_limit() -> None:
    a = parse_profile(_profile("a", 32, "wardwatch_snmp_speed"), "a.yaml")
    b = parse_profile(_profile("b", 64), "b.yaml")
    assert counter_specs([a]).of("wardwatch_snmp_x_total") == CounterSpec(32, "wardwatch_snmp_speed")
    assert counter_specs([a, b]).of("wardwatch_snmp_x_total") == DEFAULT_SPEC


def test_max_rate_must_name_a_gauge_of_the_same_table() -> None:
    with pytest.raises(ProfileError, match="max_rate wardwatch_snmp_nope is not a gauge column"):
        parse_profile(_profile("a", 32, "wardwatch_snmp_nope"), Path("a.yaml"))
    raw = _profile("a", 64)
    raw["tables"][0]["columns"][1]["max_rate"] = "wardwatch_snmp_x_total"  # type: ignore[index]
    with pytest.raises(ProfileError, match="max_rate: is for counters only"):
        parse_profile(raw, "a.yaml")


def test_source_rate_reads_width_limit_and_restarts_from_the_source() -> None:
    state = State()
    src = state.upsert_source(SourceKind.SNMP, "sw", labels={}, interval_seconds=60)
    row = {"if_index": "1", "if_name": "GE1/0/1"}
    errors = series_key("wardwatch_snmp_if_in_errors_total", **row)
    packets = series_key("wardwatch_snmp_if_in_packets_total", cast="unicast", **row)
    speed = series_key(SPEED, **row)
    uptime = series_key("wardwatch_snmp_sys_uptime_seconds")
    specs = counter_specs([load_profiles()["interfaces"]])
    readings = [  # t, errors (32-bit, wrapping), packets, uptime
        (0.0, WRAP_32 - 600.0, 1_000.0, 500.0),
        (60.0, 600.0, 61_000.0, 560.0),  # errors wrapped: +1200
        (120.0, 1_800.0, 10.0**15, 620.0),  # packets: a jump no 1 Gbit/s link makes
        (180.0, 900.0, 10.0**15 + 60.0, 20.0),  # restart: left out
        (240.0, 2_100.0, 10.0**15 + 120.0, 80.0),
    ]
    for t, e, p, up in readings:
        samples = {errors: e, packets: p, speed: 125_000_000.0, uptime: up}
        state.record(src, Snapshot(t, t, samples=samples, payload=specs))
    assert source_rate(src, errors, 900) == pytest.approx((1200 + 1200 + 1200) / 180)
    assert source_rate(src, packets, 900) == pytest.approx((60_000 + 60) / 120)
    # without the specs (an older snapshot format, a rule unit test): a 64-bit counter, no limit
    bare = State()
    plain = bare.upsert_source(SourceKind.SNMP, "sw", labels={}, interval_seconds=60)
    for t, e, _p, up in readings:
        bare.record(plain, Snapshot(t, t, samples={errors: e, uptime: up}))
    assert source_rate(plain, errors, 900) == pytest.approx((600 + 1200 + 1200) / 180)


def test_agent_sources_get_plain_counters() -> None:
    state = State()
    src = state.upsert_source(SourceKind.AGENT, "host", labels={}, interval_seconds=15)
    key = series_key("wardwatch_network_receive_bytes_total", interface="eth0")
    for t, v in [(0.0, 100.0), (15.0, 400.0), (30.0, 50.0)]:
        state.record(src, Snapshot(t, t, samples={key: v}, payload=CounterSpecs()))
    assert source_rate(src, key, 60) == pytest.approx(350 / 30)
