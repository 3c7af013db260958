"""On-duty resolution across shift boundaries, week wraps, a swap, overrides and Chinese holidays."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerting.roster_config import RosterConfig
from alerting.rosters import (
    Roster,
    on_duty,
    position_holders,
    turn_end,
    turn_start,
    who_is_on_duty,
)
from alerting.yaml_lines import load_yaml

SH = ZoneInfo("Asia/Shanghai")

ROSTER = """
timezone: Asia/Shanghai
calendar:
  country: CN
  workdays: [2027-02-20]      # a make-up workday the package does not know (declared by the hospital)
shifts:
  day: {start: "08:00", end: "20:00"}
  night: {start: 20:00, end: 08:00}        # unquoted 20:00 must stay a time, not the integer 1200
  full: {start: "08:00", end: "08:00"}
  office: {start: "08:00", end: "17:30"}
people:
  - {id: a, name: A, contacts: [{kind: sms, phone: "+8613800000001"}]}
  - {id: b, name: B, contacts: [{kind: sms, phone: "+8613800000002"}]}
  - {id: c, name: C, contacts: [{kind: sms, phone: "+8613800000003"}]}
  - {id: d, name: D, contacts: [{kind: sms, phone: "+8613800000004"}]}
  - {id: e, name: E, contacts: [{kind: sms, phone: "+8613800000005"}]}
  - {id: f, name: F, contacts: [{kind: sms, phone: "+8613800000006"}]}
  - {id: w1, name: W1, contacts: [{kind: email, address: w1@example.cn}]}
  - {id: w2, name: W2, contacts: [{kind: wecom, user_id: W2}]}
  - {id: s, name: S, contacts: [{kind: dingtalk, mobile: "+8613800000009"}]}
  - {id: boss, name: Boss, contacts: [{kind: webhook, url: "https://example.cn/hook"}]}
  - {id: x, name: X, contacts: [{kind: sms, phone: "+8613800000010"}]}
rotations:
  - {id: day, members: [a, b], shift: day, start: 2026-01-05, days: [workday, restday]}
  - {id: night, members: [c, d], shift: night, start: 2026-01-05, days: [workday, restday]}
  - {id: holiday, members: [e, f], shift: full, start: 2026-01-05, days: [holiday]}
  - {id: weekly, members: [w1, w2], shift: full, start: 2026-01-05, turn: 1w}
  - {id: office, members: [s], shift: office, start: 2026-01-05, days: [workday]}
teams:
  - id: ops
    name: Ops
    layers:
      primary: {rotations: [day, night, holiday]}
      backup: {rotations: [weekly]}
      specialist: {rotations: [office], required: false}
positions:
  first-line: {layers: [{team: ops, layer: primary}], duty_phone: "+8657100000000"}
  it-head: {people: [boss]}
swaps:
  - {who: b, for: a, start: 2026-03-02T12:00, end: 2026-03-02T20:00, agreed_by: boss}
overrides:
  - {team: ops, layer: backup, who: x, start: 2026-03-10T09:00, end: 2026-03-10T10:00, agreed_by: boss}
  - {team: ops, layer: backup, who: s, mode: add, start: 2026-03-11T20:00, end: 2026-03-11T21:00, agreed_by: boss}
"""


def make_roster(text: str = ROSTER) -> Roster:
    data, _ = load_yaml(text)
    return Roster.from_config(RosterConfig.model_validate(data))


@pytest.fixture(scope="module")
def roster() -> Roster:
    return make_roster()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


# Day indexes from the start, 2026-01-05: Feb 14 = 40, Feb 15 = 41, Feb 17 = 43, Feb 21 = 47, Feb 23 = 49,
# Feb 24 = 50, Mar 2 = 56. Two-member daily rotations alternate on even/odd indexes.
CASES = [
    # (layer, local time, expected ids, why)
    ("primary", "2026-01-05 07:59", [], "before the first shift"),
    ("primary", "2026-01-05 08:00", ["a"], "first day shift starts"),
    ("primary", "2026-01-05 19:59", ["a"], "last minute of the day shift"),
    ("primary", "2026-01-05 20:00", ["c"], "night shift starts at 20:00"),
    ("primary", "2026-01-06 07:59", ["c"], "night shift runs past midnight"),
    ("primary", "2026-01-06 08:00", ["b"], "next day, next member"),
    ("primary", "2026-01-06 20:00", ["d"], "next night, next member"),
    ("primary", "2026-01-07 08:00", ["a"], "two members wrap round"),
    # week wraps: the weekly backup hands off on Monday at 08:00
    ("backup", "2026-01-11 23:59", ["w1"], "Sunday night still week one"),
    ("backup", "2026-01-12 07:59", ["w1"], "Monday before the handoff"),
    ("backup", "2026-01-12 08:00", ["w2"], "Monday handoff"),
    ("backup", "2026-01-19 08:00", ["w1"], "the weekly rotation wraps"),
    # a swap of part of a day shift
    ("primary", "2026-03-02 11:59", ["a"], "before the swap"),
    ("primary", "2026-03-02 12:00", ["b"], "swap starts"),
    ("primary", "2026-03-02 19:59", ["b"], "swap runs to the end of the shift"),
    ("primary", "2026-03-02 20:00", ["c"], "night shift unaffected"),
    # overrides
    ("backup", "2026-03-10 08:59", ["w2"], "before the override"),
    ("backup", "2026-03-10 09:00", ["x"], "override replaces the layer"),
    ("backup", "2026-03-10 10:00", ["w2"], "override over"),
    ("backup", "2026-03-11 20:30", ["w2", "s"], "an added override joins the layer"),
    # Spring Festival 2026 (package: 16-20 and 23 Feb off; Sat 14 and Sat 28 Feb make-up workdays)
    ("primary", "2026-02-14 10:00", ["a"], "make-up Saturday: ordinary day shift"),
    ("specialist", "2026-02-14 10:00", ["s"], "make-up Saturday is a workday for the office rotation"),
    ("primary", "2026-02-14 20:00", ["c"], "night before the break"),
    ("primary", "2026-02-15 07:59", ["c"], "night before the break runs to 08:00"),
    ("primary", "2026-02-15 08:00", ["f"], "Sunday 15th opens the holiday block: holiday pattern"),
    ("primary", "2026-02-17 10:00", ["f"], "Spring Festival day: 24 h holiday shift"),
    ("primary", "2026-02-17 23:00", ["f"], "the 24 h holiday shift covers the night"),
    ("specialist", "2026-02-21 10:00", [], "a weekend inside the break is holiday, not workday"),
    ("primary", "2026-02-21 10:00", ["f"], "a weekend inside the break uses the holiday pattern"),
    ("primary", "2026-02-24 07:59", ["f"], "the last holiday shift ends at 08:00"),
    ("primary", "2026-02-24 08:00", ["a"], "back to day shifts"),
    ("specialist", "2026-02-28 10:00", ["s"], "second make-up Saturday"),
    ("specialist", "2026-03-07 10:00", [], "an ordinary Saturday is a rest day"),
    ("specialist", "2026-02-13 17:29", ["s"], "office hours end at 17:30"),
    ("specialist", "2026-02-13 17:30", [], "office hours over"),
    # Spring Festival 2027 (package: 5-10 Feb off, no make-up workdays published; we declared 20 Feb)
    (
        "primary",
        "2027-02-04 20:00",
        ["c" if (date(2027, 2, 4) - date(2026, 1, 5)).days % 2 == 0 else "d"],
        "eve of the break",
    ),
    ("specialist", "2027-02-05 10:00", [], "New Year's Eve 2027 is a holiday"),
    ("specialist", "2027-02-11 10:00", ["s"], "back to work on Thursday 11 February"),
    ("specialist", "2027-02-20 10:00", ["s"], "the declared make-up Saturday"),
    ("specialist", "2027-02-27 10:00", [], "an ordinary Saturday"),
]


@pytest.mark.parametrize(("layer", "when", "expected", "why"), CASES, ids=[c[3] for c in CASES])
def test_on_duty(roster: Roster, layer: str, when: str, expected: list[str], why: str) -> None:
    assert [p.id for p in on_duty(roster, "ops", layer, at(when))] == expected  # type: ignore[arg-type]


def test_2027_spring_festival_uses_the_holiday_pattern_every_day_of_the_break(roster: Roster) -> None:
    for day in range(5, 11):
        d = date(2027, 2, day)
        assert roster.calendar.kind(d) == "holiday", d
        expected = ["e", "f"][(d - date(2026, 1, 5)).days % 2]
        assert [p.id for p in on_duty(roster, "ops", "primary", at(f"{d} 12:00"))] == [expected]
    assert roster.calendar.kind(date(2027, 2, 4)) == "workday"
    assert roster.calendar.kind(date(2027, 2, 11)) == "workday"


def test_calendar_kinds_follow_the_package_and_the_declared_days(roster: Roster) -> None:
    kinds = {d: roster.calendar.kind(d) for d in (date(2026, 2, 14), date(2026, 2, 16), date(2026, 3, 7))}
    assert kinds == {date(2026, 2, 14): "workday", date(2026, 2, 16): "holiday", date(2026, 3, 7): "restday"}
    assert roster.calendar.kind(date(2026, 10, 10)) == "workday"  # National Day make-up Saturday


def test_times_must_be_aware(roster: Roster) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        on_duty(roster, "ops", "primary", datetime(2026, 3, 2, 12, 0))


def test_the_same_instant_in_another_timezone_gives_the_same_answer(roster: Roster) -> None:
    local = at("2026-03-02 12:30")
    utc = local.astimezone(ZoneInfo("UTC"))
    assert on_duty(roster, "ops", "primary", local) == on_duty(roster, "ops", "primary", utc)


def test_turn_start_and_end_are_the_handoffs(roster: Roster) -> None:
    weekly = roster.rotations["weekly"]
    assert turn_start(roster, weekly, at("2026-01-14 03:00")) == at("2026-01-12 08:00")
    assert turn_end(roster, weekly, at("2026-01-14 03:00")) == at("2026-01-19 08:00")
    assert turn_start(roster, weekly, at("2026-01-19 07:59")) == at("2026-01-12 08:00")
    assert turn_start(roster, weekly, at("2026-01-19 08:00")) == at("2026-01-19 08:00")
    night = roster.rotations["night"]
    assert turn_start(roster, night, at("2026-01-06 03:00")) == at("2026-01-05 20:00")
    assert turn_end(roster, night, at("2026-01-06 03:00")) == at("2026-01-06 20:00")


def test_positions_include_the_duty_phone_last(roster: Roster) -> None:
    holders = position_holders(roster, "first-line", at("2026-01-05 09:00"))
    assert [p.id for p in holders] == ["a", "duty-phone.first-line"]
    assert holders[1].duty_phone and holders[1].contacts[0].phone == "+8657100000000"  # type: ignore[union-attr]
    assert [p.id for p in position_holders(roster, "it-head", at("2026-01-05 09:00"))] == ["boss"]
    assert position_holders(roster, "emergency-command", at("2026-01-05 09:00")) == []


def test_who_is_on_duty_lists_every_layer_and_position(roster: Roster) -> None:
    board = who_is_on_duty(roster, at("2026-03-02 13:00"))
    assert {k: [p.id for p in v] for k, v in board.layers.items()} == {
        ("ops", "primary"): ["b"],
        ("ops", "backup"): ["w1"],  # 2 March is day 56: week 8, even, so w1
        ("ops", "specialist"): ["s"],
    }
    assert [p.id for p in board.positions["first-line"]] == ["b", "duty-phone.first-line"]


def test_a_rotation_stops_after_until() -> None:
    text = ROSTER.replace(
        "{id: weekly, members: [w1, w2], shift: full, start: 2026-01-05, turn: 1w}",
        "{id: weekly, members: [w1, w2], shift: full, start: 2026-01-05, turn: 1w, until: 2026-01-11}",
    )
    r = make_roster(text)
    assert [p.id for p in on_duty(r, "ops", "backup", at("2026-01-12 07:59"))] == ["w1"]
    assert on_duty(r, "ops", "backup", at("2026-01-12 08:00")) == []
    assert on_duty(r, "ops", "backup", at("2026-01-12 08:00") + timedelta(days=3)) == []
