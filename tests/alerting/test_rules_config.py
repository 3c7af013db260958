"""Rule files: validation errors name file, line and field; duplicates across files; templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.rule_config import load_rules_dir, parse_duration, render_template
from alerting.yaml_lines import ConfigError

GOOD = """\
plans:
  system_failure: https://wiki.hospital.local/plans/system-failure
rules:
  - name: FilesystemAlmostFull
    select: {kind: agent}
    condition:
      type: threshold
      metric: wardwatch_filesystem_used_ratio
      op: ">"
      value: 0.9
    for: 5m
    severity: major
    category: system_failure
    summary: "{host}: {mountpoint} is {value:.0%} full"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_rules_dir(tmp_path)
    return [str(p) for p in info.value.problems]


def test_a_good_file_loads_with_its_plan_and_duration(tmp_path: Path) -> None:
    write(tmp_path, "hosts.yaml", GOOD)
    rules = load_rules_dir(tmp_path)
    (r,) = rules.rules
    assert r.for_ == 300.0
    assert rules.plan_for(r) == "https://wiki.hospital.local/plans/system-failure"
    assert render_template(r.summary, {"host": "h", "mountpoint": "/data"}, 0.934) == "h: /data is 93% full"


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ('      op: ">"', "hosts.yaml:9: rules[0].condition.op: Input should be"),
        ("      value: 0.9", "hosts.yaml:10: rules[0].condition.value: Input should be a valid number"),
        ("    for: 5m", "hosts.yaml:11: rules[0].for: Value error, bad duration '5 minutes'"),
        ("    severity: major", "hosts.yaml:12: rules[0].severity: Input should be 'critical'"),
        ("    category: system_failure", "hosts.yaml:13: rules[0].category: Input should be"),
        ("      type: threshold", "hosts.yaml:6: rules[0].condition: Input tag 'thresh' found"),
        ("    select: {kind: agent}", "hosts.yaml:5: rules[0].select.hots: unknown field"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, bad: str, expected: str) -> None:
    replacement = {
        '      op: ">"': '      op: "=>"',
        "      value: 0.9": "      value: ninety",
        "    for: 5m": "    for: 5 minutes",
        "    severity: major": "    severity: P2",
        "    category: system_failure": "    category: outage",
        "      type: threshold": "      type: thresh",
        "    select: {kind: agent}": "    select: {hots: x}",
    }[bad]
    write(tmp_path, "hosts.yaml", GOOD.replace(bad, replacement))
    (problem,) = problems(tmp_path)
    assert problem.startswith(str(tmp_path / expected.split(":", 1)[0]) + ":" + expected.split(":", 1)[1])


def test_every_problem_of_every_file_is_reported_and_duplicates_name_the_first_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)  # the same rule name again
    write(tmp_path, "c.yaml", "rules:\n  - name: X\n    condition: {type: missing}\n    severity: bad\n")
    write(tmp_path, "d.yaml", "rules: [\n")
    found = problems(tmp_path)
    assert any(
        p.startswith(f"{tmp_path}/b.yaml:4: rules[0].name: duplicate rule name 'FilesystemAlmostFull'")
        and "a.yaml" in p
        for p in found
    )
    assert any(p.startswith(f"{tmp_path}/c.yaml:4: rules[0].severity:") for p in found)
    assert any(p.startswith(f"{tmp_path}/c.yaml:2: rules[0].summary: Field required") for p in found)
    assert any(p.startswith(f"{tmp_path}/d.yaml:") and "not valid YAML" in p for p in found)


@pytest.mark.parametrize(
    ("summary", "message"),
    [("{host", "bad template"), ("{value:.0q}", "bad template"), ("{labels[host]}", "plain label name")],
)
def test_broken_templates_fail_at_load(tmp_path: Path, summary: str, message: str) -> None:
    write(tmp_path, "hosts.yaml", GOOD.replace('"{host}: {mountpoint} is {value:.0%} full"', repr(summary)))
    (problem,) = problems(tmp_path)
    assert "rules[0].summary" in problem and message in problem


def test_bad_regex_in_selector_and_predict_needs_one_limit(tmp_path: Path) -> None:
    text = GOOD.replace("select: {kind: agent}", "select: {system: '(HIS'}")
    write(tmp_path, "hosts.yaml", text)
    (problem,) = problems(tmp_path)
    assert "rules[0].select.system" in problem and "bad regex" in problem
    predict = GOOD.replace(
        'type: threshold\n      metric: wardwatch_filesystem_used_ratio\n      op: ">"\n      value: 0.9',
        "type: predict\n      metric: wardwatch_filesystem_used_ratio\n      hours: 24",
    )
    write(tmp_path, "hosts.yaml", predict)
    (problem,) = problems(tmp_path)
    assert "rules[0].condition" in problem and "exactly one of limit and limit_metric" in problem


@pytest.mark.parametrize(
    ("text", "seconds"), [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("2d", 172800.0)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "-1", "1y", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(-1 if text == "-1" else text)


def test_same_incident_must_name_a_rule_that_exists(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        GOOD.rstrip("\n") + "\n    same_incident: {rules: [FilesystemFull], by: [host, mountpoint]}\n",
    )
    (problem,) = problems(tmp_path)
    assert (
        problem
        == f"{tmp_path / 'a.yaml'}:15: rules[0].same_incident.rules[0]: no rule named 'FilesystemFull'"
    )
