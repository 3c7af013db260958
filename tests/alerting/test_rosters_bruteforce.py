"""Brute force: step through a month every few minutes and compare with an independent wall-clock computation;
hypothesis: the gaps are exactly the instants with nobody on duty."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.roster_config import RosterConfig, Swap
from alerting.rosters import Roster, find_gaps, load_roster, on_duty, turn_end, turn_start

START = date(2026, 3, 2)  # a Monday


def brute_roster(tz: str) -> Roster:
    person = lambda i: {"id": i, "name": i.upper(), "contacts": [{"kind": "sms", "phone": "+8613800000000"}]}  # noqa: E731
    cfg = RosterConfig.model_validate(
        {
            "timezone": tz,
            "calendar": {"country": None},
            "shifts": {
                "day": {"start": "08:00", "end": "20:00"},
                "night": {"start": "20:00", "end": "08:00"},
            },
            "people": [person(i) for i in ("a", "b", "c", "d", "e", "f", "g")],
            "rotations": [
                {"id": "day", "members": ["a", "b", "c"], "shift": "day", "start": START, "turn": "2d"},
                {"id": "night", "members": ["d", "e"], "shift": "night", "start": START, "turn": "1d"},
                {"id": "weekly", "members": ["f", "g"], "shift": "day", "start": START, "turn": "1w"},
            ],
            "teams": [
                {
                    "id": "t",
                    "name": "T",
                    "layers": {
                        "primary": {"rotations": ["day", "night"]},
                        "backup": {"rotations": ["weekly"]},
                    },
                }
            ],
        }
    )
    return Roster.from_config(cfg)


def expected(tz: ZoneInfo, t: datetime) -> tuple[list[str], list[str]]:
    """Who should be on duty, from the local wall clock alone."""
    local = t.astimezone(tz)
    d, hm = local.date(), local.time()
    primary: list[str] = []
    if time(8) <= hm < time(20):
        primary = [["a", "b", "c"][((d - START).days // 2) % 3]]
    else:
        night_day = d if hm >= time(20) else d - timedelta(days=1)
        if night_day >= START:
            primary = [["d", "e"][(night_day - START).days % 2]]
    # the weekly layer staffs only the day shift (08:00-20:00), a new person each Monday
    backup = [["f", "g"][((d - START).days // 7) % 2]] if time(8) <= hm < time(20) else []
    return primary, backup


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Europe/Berlin", "America/Chicago"])
def test_every_five_minutes_for_a_month_the_right_people_are_on_duty(tz: str) -> None:
    roster = brute_roster(tz)
    zone = ZoneInfo(tz)
    # March 2026 holds the DST change in Berlin (29 March) and in Chicago (8 March).
    t = datetime.combine(START, time(8), tzinfo=zone).astimezone(UTC)
    end = t + timedelta(days=31)
    steps = 0
    while t < end:
        want_primary, want_backup = expected(zone, t)
        assert [p.id for p in on_duty(roster, "t", "primary", t)] == want_primary, t.astimezone(zone)
        assert [p.id for p in on_duty(roster, "t", "backup", t)] == want_backup, t.astimezone(zone)
        t += timedelta(minutes=5)
        steps += 1
    assert steps == 31 * 24 * 12  # 31 days of absolute time, whatever the wall clock did


def test_handoffs_in_a_month_are_exactly_the_expected_ones() -> None:
    roster = brute_roster("Europe/Berlin")
    zone = ZoneInfo("Europe/Berlin")
    weekly = roster.rotations["weekly"]
    seen = set()
    t = datetime(2026, 3, 2, 8, tzinfo=zone).astimezone(UTC)
    while t < datetime(2026, 4, 6, 8, tzinfo=zone).astimezone(UTC):
        s, e = turn_start(roster, weekly, t), turn_end(roster, weekly, t)
        assert s <= t < e
        seen.add(s.astimezone(zone))
        t += timedelta(minutes=7)
    mondays = {datetime(2026, 3, 2, 8, tzinfo=zone) + timedelta(days=7 * k) for k in range(5)}
    assert {s.replace(tzinfo=zone) for s in seen} == mondays
    assert all(s.hour == 8 for s in seen)  # wall-clock handoff survives the DST change


times = st.integers(min_value=0, max_value=24 * 60 - 1).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")


@settings(max_examples=60, deadline=None)
@given(
    start=times,
    end=times,
    members=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4),
    turn=st.integers(1, 3).map(lambda n: f"{n}d"),
    offset_minutes=st.integers(0, 3 * 24 * 60 - 1),
)
def test_gaps_are_exactly_the_minutes_with_nobody_on_duty(
    start: str, end: str, members: list[str], turn: str, offset_minutes: int
) -> None:
    cfg = RosterConfig.model_validate(
        {
            "shifts": {"s": {"start": start, "end": end}},
            "people": [
                {"id": i, "name": i, "contacts": [{"kind": "sms", "phone": "+8613800000000"}]} for i in "abc"
            ],
            "rotations": [{"id": "r", "members": members, "shift": "s", "start": "2026-03-01", "turn": turn}],
            "teams": [{"id": "t", "name": "T", "layers": {"primary": {"rotations": ["r"]}}}],
            "calendar": {"country": None},
        }
    )
    roster = Roster.from_config(cfg)
    window_start = datetime(2026, 3, 3, tzinfo=roster.tz)
    window_end = window_start + timedelta(days=3)
    gaps = find_gaps(roster, window_start, window_end)
    t = window_start + timedelta(minutes=offset_minutes)
    nobody = on_duty(roster, "t", "primary", t) == []
    in_gap = any(g.start <= t < g.end for g in gaps)
    assert nobody == in_gap
    assert len(on_duty(roster, "t", "primary", t)) <= 1


@settings(max_examples=40, deadline=None)
@given(
    day=st.integers(0, 20),
    start_minute=st.integers(0, 24 * 60 - 1),
    length_minutes=st.integers(1, 36 * 60),
    who=st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]),
    probe=st.integers(0, 3 * 24 * 60 - 1),
)
def test_a_swap_never_changes_how_many_are_on_duty(
    day: int, start_minute: int, length_minutes: int, who: str, probe: int
) -> None:
    """Whatever the swap, coverage is the same: the same number of people on each layer at every instant."""
    plain = brute_roster("Asia/Shanghai")
    zone = plain.tz
    start = datetime.combine(START + timedelta(days=day), time(0)) + timedelta(minutes=start_minute)
    end = start + timedelta(minutes=length_minutes)
    for_ = "a" if who != "a" else "d"
    swap = Swap.model_validate({"who": who, "for": for_, "start": start, "end": end, "agreed_by": who})
    swapped = Roster.from_config(plain.config.model_copy(update={"swaps": [swap]}))
    t = datetime.combine(START + timedelta(days=day), time(0), tzinfo=zone) + timedelta(
        minutes=probe - 24 * 60
    )
    for layer in ("primary", "backup"):
        before = on_duty(plain, "t", layer, t)
        after = on_duty(swapped, "t", layer, t)
        assert len(before) == len(after)
        if start.replace(tzinfo=zone) <= t < end.replace(tzinfo=zone) and [p.id for p in before] == [for_]:
            assert [p.id for p in after] == [who]
        else:
            assert after == before


def test_the_example_roster_through_the_2027_spring_festival_every_ten_minutes() -> None:
    """systems/primary of rosters/example-hospital.yaml, 25 Jan - 25 Feb 2027, against a hand-written model:
    day/night shifts, except on the days off 5-10 February 2027 (the `holidays` package's CN dates), which are
    24 h shifts from 08:00."""
    roster = load_roster(Path(__file__).resolve().parents[2] / "rosters" / "example-hospital.yaml")
    zone = roster.tz
    start = date(2026, 1, 5)
    days_off = {date(2027, 2, d) for d in range(5, 11)}
    day_members = ["zhang-wei", "li-na", "wang-fang"]
    night_members = ["liu-yang", "chen-jie", "yang-lei"]
    holiday_members = ["zhang-wei", "liu-yang", "li-na", "chen-jie", "wang-fang", "yang-lei"]

    def want(t: datetime) -> str:
        local = t.astimezone(zone)
        d, hm = local.date(), local.time()
        shift_day = d if hm >= time(8) else d - timedelta(days=1)
        if shift_day in days_off:
            return holiday_members[(shift_day - start).days % 6]
        if time(8) <= hm < time(20):
            return day_members[(d - start).days % 3]
        return night_members[(shift_day - start).days % 3]

    t = datetime(2027, 1, 25, tzinfo=zone)
    holiday_minutes = 0
    while t < datetime(2027, 2, 25, tzinfo=zone):
        expected = want(t)
        assert [p.id for p in on_duty(roster, "systems", "primary", t)] == [expected], t
        holiday_minutes += (t.astimezone(zone) - timedelta(hours=8)).date() in days_off
        t += timedelta(minutes=10)
    assert holiday_minutes == 6 * 24 * 6  # six 24 h holiday shifts, sampled every ten minutes
