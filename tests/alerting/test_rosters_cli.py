"""``wardwatch roster ...`` through ``collector.cli.main``: planted gaps and overlaps fail the check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from alerting.roster_ical import person_ical
from alerting.rosters import load_roster
from collector.cli import main

REPO = Path(__file__).resolve().parents[2]

SMALL = """\
shifts:
  day: {start: "08:00", end: "20:00"}
  night: {start: "20:00", end: "08:00"}
  full: {start: "08:00", end: "08:00"}
people:
  - {id: a, name: 甲, contacts: [{kind: sms, phone: "+8613800000001"}]}
  - {id: b, name: 乙, contacts: [{kind: sms, phone: "+8613800000002"}]}
  - {id: c, name: 丙, contacts: [{kind: sms, phone: "+8613800000003"}]}
  - {id: w, name: 丁, contacts: [{kind: sms, phone: "+8613800000004"}]}
rotations:
  - {id: day, members: [a, b], shift: day, start: 2026-11-30}
  - {id: night, members: [c], shift: night, start: 2026-11-30}
  - {id: weekly, members: [w], shift: full, start: 2026-11-30, turn: 1w}
teams:
  - id: systems
    name: 系统组
    layers:
      primary: {rotations: [day, night]}
      backup: {rotations: [weekly]}
"""


def write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "roster.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def check(f: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = main(["roster", "check", "--roster", str(f), "--from", "2026-12-01T08:00", "--days", "7", *extra])
    return code, capsys.readouterr().out.splitlines()


def test_a_complete_roster_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(write(tmp_path, SMALL), capsys)
    assert code == 0
    assert out == ["OK: no gaps and no overlaps between 2026-12-01 08:00 to 2026-12-08 08:00 (Asia/Shanghai)"]


def test_check_finds_a_planted_one_hour_gap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the night rotation ends on 3 December; someone covers the next night, but only from 21:00
    text = SMALL.replace(
        "{id: night, members: [c], shift: night, start: 2026-11-30}",
        "{id: night, members: [c], shift: night, start: 2026-11-30, until: 2026-12-02}\n"
        "  - {id: late, members: [c], shift: late, start: 2026-12-03}",
    ).replace('  full: {start: "08:00"', '  late: {start: "21:00", end: "08:00"}\n  full: {start: "08:00"')
    text = text.replace("rotations: [day, night]", "rotations: [day, night, late]")
    code, out = check(write(tmp_path, text), capsys)
    assert code == 1
    assert out == [
        "GAP systems/primary: nobody on duty from 2026-12-03 20:00 to 2026-12-03 21:00 (60 min)",
        "GAP systems/primary: nobody on duty from 2026-12-04 20:00 to 2026-12-04 21:00 (60 min)",
        "GAP systems/primary: nobody on duty from 2026-12-05 20:00 to 2026-12-05 21:00 (60 min)",
        "GAP systems/primary: nobody on duty from 2026-12-06 20:00 to 2026-12-06 21:00 (60 min)",
        "GAP systems/primary: nobody on duty from 2026-12-07 20:00 to 2026-12-07 21:00 (60 min)",
        "FAILED: 5 gap(s), 0 overlap(s), 0 idle swap(s) between 2026-12-01 08:00 to 2026-12-08 08:00 (Asia/Shanghai)",
    ]


def test_check_finds_a_single_planted_one_hour_gap_at_a_moved_handoff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the backup moves to a 09:00 handoff on 4 December: one hour, 08:00-09:00, with nobody
    text = SMALL.replace(
        "{id: weekly, members: [w], shift: full, start: 2026-11-30, turn: 1w}",
        "{id: weekly, members: [w], shift: full, start: 2026-11-30, turn: 1w, until: 2026-12-03}\n"
        "  - {id: weekly2, members: [w], shift: full, start: 2026-12-04, turn: 1w}",
    )
    text = text.replace("rotations: [weekly]", "rotations: [weekly, weekly2]")
    text = text.replace(
        '  full: {start: "08:00", end: "08:00"}',
        '  full: {start: "08:00", end: "08:00"}\n  late9: {start: "09:00", end: "09:00"}',
    )
    text = text.replace("weekly2, members: [w], shift: full", "weekly2, members: [w], shift: late9")
    code, out = check(write(tmp_path, text), capsys)
    assert code == 1
    assert out[0] == "GAP systems/backup: nobody on duty from 2026-12-04 08:00 to 2026-12-04 09:00 (60 min)"
    assert len(out) == 2 and out[1].startswith("FAILED: 1 gap(s), 0 overlap(s)")


def test_check_finds_a_planted_overlap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SMALL + (
        "overrides:\n"
        "  - {team: systems, layer: backup, who: a, start: 2026-12-02T10:00, end: 2026-12-02T12:00,"
        " agreed_by: w}\n"
    )
    code, out = check(write(tmp_path, text), capsys)
    assert code == 1
    # 2 December is day 2 of the day rotation: a's turn
    assert out == [
        "OVERLAP a (甲): day and override both from 2026-12-02 10:00 to 2026-12-02 12:00",
        "FAILED: 0 gap(s), 1 overlap(s), 0 idle swap(s) between 2026-12-01 08:00 to 2026-12-08 08:00 (Asia/Shanghai)",
    ]


def test_the_example_roster_passes_its_own_check(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(REPO)
    code = main(["roster", "check", "--from", "2026-11-28T00:00", "--days", "120"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines() == [
        "OK: rosters/escalation.yaml: 5 policies, every target is in the roster",
        "OK: no gaps and no overlaps between 2026-11-28 00:00 to 2027-03-28 00:00 (Asia/Shanghai)",
    ]


def test_the_example_roster_covers_the_2026_spring_festival(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(REPO)
    assert main(["roster", "check", "--from", "2026-02-01T00:00", "--days", "40"]) == 0
    capsys.readouterr()
    assert main(["roster", "who", "--at", "2026-02-17T03:00", "--team", "systems"]) == 0
    out = capsys.readouterr().out.splitlines()
    # 03:00 on 17 Feb is still the 24 h holiday shift that began on 16 Feb, day 42 of systems-holiday
    # (6 members): index 0, zhang-wei
    assert out == [
        "On duty at 2026-02-17 03:00 (Asia/Shanghai)",
        "  系统组 systems/primary: 张伟 (zhang-wei)",
        "  系统组 systems/backup: 赵刚 (zhao-gang)",
    ]


def test_who_shows_the_swap_and_the_positions(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(REPO)
    assert main(["roster", "who", "--at", "2026-12-05T23:00+08:00"]) == 0
    out = capsys.readouterr().out
    assert "  系统组 systems/primary: 刘洋 (liu-yang)\n" in out  # swapped in for chen-jie
    assert "  一线值班 [first-line]: 刘洋, 一线值班 · 值班电话\n" in out
    assert "  信息科主任 [it-head]: 周敏（信息科主任）\n" in out


def test_show_week_prints_a_table(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(REPO)
    assert main(["roster", "show", "--week", "--from", "2026-12-05"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "系统组 (systems)"
    assert out[2].startswith(
        "  12-05 六 Sat restday | 08:00→20:00 李娜  20:00→08:00 刘洋* | 08:00→08:00 孙丽"
    )
    assert sum(1 for line in out if " | " in line) == 4 * 8  # four teams, a header and seven days each


def test_a_broken_roster_exits_2_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, SMALL.replace("members: [a, b]", "members: [a, zz]"))
    assert main(["roster", "who", "--roster", str(f)]) == 2
    assert capsys.readouterr().err == f"{f}:11: rotations[0].members[1]: no person with id 'zz'\n"


def test_ical_for_a_person_lists_their_shifts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, SMALL)
    out = tmp_path / "a.ics"
    assert (
        main(
            [
                "roster",
                "ical",
                "--roster",
                str(f),
                "--person",
                "a",
                "--from",
                "2026-12-01T00:00",
                "--days",
                "4",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    cal = icalendar.Calendar.from_ical(out.read_bytes())
    starts = [ev.decoded("dtstart") for ev in cal.walk("VEVENT")]
    # a has the day shift on 30 Nov, 2 Dec and 4 Dec (even days from the start); the window is 1-4 Dec local
    assert starts == [datetime(2026, 12, 2, 0, 0, tzinfo=UTC), datetime(2026, 12, 4, 0, 0, tzinfo=UTC)]
    summary = next(iter(cal.walk("VEVENT")))["summary"]
    assert summary == "甲 — 系统组 primary — day"


def test_ical_for_a_team_and_unknown_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, SMALL)
    assert (
        main(
            [
                "roster",
                "ical",
                "--roster",
                str(f),
                "--team",
                "systems",
                "--from",
                "2026-12-01T08:00",
                "--days",
                "1",
            ]
        )
        == 0
    )
    cal = icalendar.Calendar.from_ical(capsys.readouterr().out.encode())
    events = sorted((ev.decoded("dtstart"), str(ev["summary"])) for ev in cal.walk("VEVENT"))
    assert events == [
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "丁 — 系统组 backup — weekly"),
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "乙 — 系统组 primary — day"),
        (datetime(2026, 12, 1, 12, 0, tzinfo=UTC), "丙 — 系统组 primary — night"),
    ]
    assert main(["roster", "ical", "--roster", str(f), "--person", "nobody"]) == 2
    assert "no person with id 'nobody'" in capsys.readouterr().err


def test_ical_is_deterministic_for_a_given_now(tmp_path: Path) -> None:
    roster = load_roster(write(tmp_path, SMALL))
    kw = {
        "start": datetime(2026, 12, 1, tzinfo=UTC),
        "end": datetime(2026, 12, 8, tzinfo=UTC),
        "now": datetime(2026, 11, 28, tzinfo=UTC),
    }
    assert person_ical(roster, "c", **kw) == person_ical(roster, "c", **kw)
    assert person_ical(roster, "c", **kw).count(b"BEGIN:VEVENT") == 7  # nights of 1-7 Dec
    # w's back-to-back 24 h shifts are one event, not seven daily ones
    weekly = icalendar.Calendar.from_ical(person_ical(roster, "w", **kw))
    spans = [(ev.decoded("dtstart"), ev.decoded("dtend")) for ev in weekly.walk("VEVENT")]
    assert spans == [(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), datetime(2026, 12, 8, 0, 0, tzinfo=UTC))]


def test_check_reports_a_swap_that_takes_over_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # c is on nights only: a swap of c's day shift is a mistake the check must catch
    text = SMALL + (
        "swaps:\n"
        "  - {who: a, for: c, start: 2026-12-02T08:00, end: 2026-12-02T20:00, agreed_by: w}\n"
        "  - {who: a, for: c, start: 2026-12-02T20:00, end: 2026-12-03T08:00, agreed_by: w}\n"
    )
    code, out = check(write(tmp_path, text), capsys)
    assert code == 1
    assert out[0] == (
        "SWAP swaps[0]: c has no shift between 2026-12-02 08:00 and 2026-12-02 20:00, so a takes over nothing"
    )
    assert out[-1].startswith("FAILED: 0 gap(s), 0 overlap(s), 1 idle swap(s)")


def test_check_validates_the_escalation_policies_next_to_the_roster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(tmp_path, SMALL)
    (tmp_path / "escalation.yaml").write_text(
        "policies:\n  - id: p\n    levels:\n      - delay: 0m\n        targets: [{team: network, layer: primary}]\n",
        encoding="utf-8",
    )
    code = main(["roster", "check", "--roster", str(f), "--from", "2026-12-01T08:00", "--days", "1"])
    assert code == 2
    err = capsys.readouterr().err
    f = tmp_path / "escalation.yaml"
    assert err.splitlines() == [
        f"{f}:1: p1_immediate[0].position: the roster does not fill position 'it-head' "
        "(p1_immediate defaults to [{position: it-head}])",
        f"{f}:5: policies[0].levels[0].targets[0].team: no team with id 'network' in the roster",
    ]


def test_a_bad_time_is_a_message_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, SMALL)
    assert main(["roster", "who", "--roster", str(f), "--at", "tomorrow"]) == 2
    assert capsys.readouterr().err == "not an ISO 8601 time: 'tomorrow' (e.g. 2027-02-06T03:00)\n"
    assert main(["roster", "show", "--roster", str(f), "--from", "2026-13-01"]) == 2
    assert capsys.readouterr().err == "not a date: '2026-13-01' (e.g. 2027-02-06)\n"


def test_without_roster_the_commands_use_the_configured_rosters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "oncall"
    folder.mkdir()
    write(folder, SMALL)
    config = tmp_path / "collector.yaml"
    config.write_text(f"rosters: {{path: {folder}}}\n")
    args = ["--from", "2026-12-01T08:00", "--days", "7"]

    assert main(["roster", "check", "--config", str(config), *args]) == 0
    assert main(["roster", "who", "--config", str(config), "--at", "2026-12-01T10:00"]) == 0
    assert "systems/primary: 乙 (b)" in capsys.readouterr().out  # that roster's day shift, not ./rosters'
    monkeypatch.setenv("WARDWATCH_ROSTERS__PATH", str(folder / "missing.yaml"))  # the environment wins
    assert main(["roster", "check", "--config", str(config), *args]) == 2
    assert "missing.yaml" in capsys.readouterr().err
