"""A malformed roster is rejected with every problem at once, each naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.roster_config import load_roster_config
from alerting.yaml_lines import ConfigError, load_yaml

GOOD = """\
shifts:
  day: {start: "08:00", end: "20:00"}
people:
  - id: a
    name: A
    contacts:
      - {kind: sms, phone: "+8613800000001"}
rotations:
  - id: r
    members: [a]
    shift: day
    start: 2026-01-05
teams:
  - id: t
    name: T
    layers:
      primary: {rotations: [r]}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "roster.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_roster_config(f)
    return [str(p) for p in exc.value.problems]


def test_the_good_roster_loads(tmp_path: Path) -> None:
    f = tmp_path / "roster.yaml"
    f.write_text(GOOD, encoding="utf-8")
    cfg = load_roster_config(f)
    assert cfg.timezone == "Asia/Shanghai"
    assert cfg.rotations[0].turn_days == 1


def test_structural_problems_name_file_line_and_field_all_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('{kind: sms, phone: "+8613800000001"}', '{kind: sms, phone: "call me"}')
    text = text.replace("    shift: day\n", "    shift: day\n    turn: 3x\n    colour: red\n")
    text = text.replace('day: {start: "08:00"', 'day: {start: "25:00"')
    f = str(tmp_path / "roster.yaml")
    assert sorted(problems(tmp_path, text)) == sorted(
        [
            f"{f}:2: shifts.day.start: a time of day is HH:MM, e.g. '08:00'",
            f"{f}:7: people[0].contacts[0].phone: a phone number is digits, optionally "
            "with a leading + (e.g. +8613800000000)",
            f"{f}:12: rotations[0].turn: a turn length is a number of days or weeks, "
            "e.g. '1d', '7d', '1w', '2w'",
            f"{f}:13: rotations[0].colour: unknown field",
        ]
    )


def test_a_missing_field_points_at_its_parent(tmp_path: Path) -> None:
    text = GOOD.replace("    name: A\n", "")
    assert problems(tmp_path, text) == [f"{tmp_path / 'roster.yaml'}:4: people[0].name: Field required"]


def test_an_unknown_contact_kind_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("{kind: sms,", "{kind: pager,")
    [p] = problems(tmp_path, text)
    assert p.startswith(f"{tmp_path / 'roster.yaml'}:7: people[0].contacts[0]: ")
    assert "'sms', 'email', 'wecom', 'dingtalk', 'webhook'" in p


def test_broken_references_are_all_reported_with_their_lines(tmp_path: Path) -> None:
    text = GOOD.replace("members: [a]", "members: [a, ghost]").replace("shift: day", "shift: dawn")
    text = text.replace("{rotations: [r]}", "{rotations: [r, nope]}")
    text += (
        "positions:\n"
        "  it-head: {people: [boss]}\n"
        "swaps:\n"
        "  - {who: a, for: a, start: 2026-01-06T08:00, end: 2026-01-06T20:00, agreed_by: nobody}\n"
        "overrides:\n"
        "  - {team: t, layer: backup, who: a, start: 2026-01-06T08:00, end: 2026-01-06T09:00, agreed_by: a}\n"
    )
    f = str(tmp_path / "roster.yaml")
    assert sorted(problems(tmp_path, text)) == sorted(
        [
            f"{f}:10: rotations[0].members[1]: no person with id 'ghost'",
            f"{f}:11: rotations[0].shift: no shift named 'dawn'",
            f"{f}:17: teams[0].layers.primary.rotations[1]: no rotation with id 'nope'",
            f"{f}:19: positions.it-head.people[0]: no person with id 'boss'",
            f"{f}:21: swaps[0].agreed_by: no person with id 'nobody'",
            f"{f}:21: swaps[0].who: a swap needs two different people",
            f"{f}:23: overrides[0].layer: team 't' has no backup layer",
        ]
    )


def test_duplicate_ids_and_unknown_timezone(tmp_path: Path) -> None:
    text = "timezone: Mars/Olympus\n" + GOOD.replace(
        "rotations:\n", "  - {id: a, name: A2, contacts: [{kind: wecom, user_id: A2}]}\nrotations:\n"
    )
    f = str(tmp_path / "roster.yaml")
    assert problems(tmp_path, text) == [f"{f}:1: timezone: unknown timezone 'Mars/Olympus'"]
    text = text.replace("timezone: Mars/Olympus\n", "")
    assert problems(tmp_path, text) == [
        f"{f}:4: people[0].id: duplicate id 'a'",
        f"{f}:8: people[1].id: duplicate id 'a'",
    ]


def test_a_window_that_ends_before_it_starts_is_rejected(tmp_path: Path) -> None:
    text = GOOD + (
        "swaps:\n  - who: a\n    for: b\n    start: 2026-01-06T20:00\n    end: 2026-01-06T08:00\n    agreed_by: a\n"
    )
    [p] = problems(tmp_path, text)
    assert p == f"{tmp_path / 'roster.yaml'}:19: swaps[0]: end must be after start"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    [p] = problems(tmp_path, GOOD + "teams: [\n")
    assert p.startswith(f"{tmp_path / 'roster.yaml'}:")
    assert "not valid YAML" in p


def test_a_folder_with_two_rosters_is_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "escalation.yaml").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"2 roster files \(a.yaml, b.yaml\); pass --roster FILE"):
        load_roster_config(tmp_path)
    (tmp_path / "b.yaml").unlink()
    assert load_roster_config(tmp_path).people[0].id == "a"


def test_unquoted_times_stay_strings_not_sexagesimal_integers() -> None:
    data, lines = load_yaml("a: 20:00\nb: 1200\nc: 08:30\n")
    assert data == {"a": "20:00", "b": 1200, "c": "08:30"}
    assert lines[("b",)] == 2


def test_a_key_given_twice_is_an_error_not_silently_the_last(tmp_path: Path) -> None:
    text = GOOD.replace(
        '  day: {start: "08:00", end: "20:00"}\n',
        '  day: {start: "08:00", end: "20:00"}\n  day: {start: "09:00", end: "21:00"}\n',
    )
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'roster.yaml'}:3: shifts.day: given twice (first at line 2)"
    ]


def test_start_and_end_must_agree_on_having_an_offset(tmp_path: Path) -> None:
    text = (
        GOOD
        + "swaps:\n  - {who: a, for: b, start: 2026-01-06T08:00, end: '2026-01-06T20:00+08:00', agreed_by: a}\n"
    )
    [p] = problems(tmp_path, text)
    assert p.endswith("swaps[0]: give start and end both with a UTC offset or both without (roster time)")
