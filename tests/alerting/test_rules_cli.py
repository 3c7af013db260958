"""``wardwatch rules check|test`` and the default rule set: valid, tested, and reading metrics that exist."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import yaml

from alerting.rule_config import AllCondition, EventCondition, RuleConfig, load_rules_dir, metrics_of
from collector.cli import main
from collector.host_metrics import AGENT_CLOCK_SKEW, HOST_METRICS
from collector.snmp.poller import ASSET_LABELS, INTERFACE_LABELS
from collector.snmp.profiles import load_profiles

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RULES = REPO / "deploy" / "rules"
PROFILES = REPO / "collector" / "snmp" / "profiles"


def profile_metrics() -> set[str]:
    """Every metric name the SNMP profiles declare (read as data: scalars and table columns)."""
    names: set[str] = set()
    for path in PROFILES.glob("*.yaml"):
        profile = yaml.safe_load(path.read_text())
        columns = list(profile.get("scalars", []))
        for table in profile.get("tables", []):
            columns += table.get("columns", [])
        names.update(c["metric"] for c in columns)
    return names


def test_every_default_rule_reads_a_metric_the_catalog_or_the_snmp_profiles_declare() -> None:
    known = set(HOST_METRICS) | {AGENT_CLOCK_SKEW} | profile_metrics()
    assert "wardwatch_snmp_if_oper_status" in known  # the profiles were read
    rules = load_rules_dir(DEFAULT_RULES)
    unknown = {(r.name, m) for r in rules.rules for m in metrics_of(r) if m not in known}
    assert unknown == set()


def snmp_labels() -> set[str]:
    """Every label an SNMP series or trap event can carry: the device and its asset labels, the profiles' row
    index, lookup, constant and info labels, and what the trap receiver adds."""
    names = {"device", *ASSET_LABELS, "address", "trap_oid", "if_index", *INTERFACE_LABELS}
    for profile in load_profiles().values():
        for table in profile.tables:
            names.update(table.index, table.lookups)
        for column in profile.columns():
            names.update(column.labels)
            if column.label:
                names.add(column.label)
    return names


def labels_named_by(rule: RuleConfig) -> set[str]:
    """Labels a rule refers to: ``{label}`` in its summary and description, match keys, event keys, same_incident."""
    names = {
        field.split(".")[0].split("[")[0]
        for text in (rule.summary, rule.description)
        for _, field, _, _ in string.Formatter().parse(text)
        if field
    } - {"value"}
    c = rule.condition
    for cond in c.conditions if isinstance(c, AllCondition) else [c]:
        names.update(getattr(cond, "match", {}))
    if isinstance(c, EventCondition):
        names.update(c.key)
    if rule.same_incident is not None:
        names.update(rule.same_incident.by)
    return names


def test_every_label_a_default_snmp_rule_names_is_one_snmp_series_or_traps_carry() -> None:
    """A label renamed in the profiles (if_name, hr_storage_descr...) but not in a rule would render empty in the
    incident's title, or never match: caught here."""
    known = snmp_labels()
    assert {
        "if_index",
        "if_name",
        "if_alias",
        "hr_storage_descr",
        "pool_name",
    } <= known  # the profiles were read
    rules = load_rules_dir(DEFAULT_RULES)
    snmp_rules = [
        r
        for r in rules.rules
        if r.select.kind == "snmp"
        or isinstance(r.condition, EventCondition)
        or any(m.startswith("wardwatch_snmp_") for m in metrics_of(r))
    ]
    assert {"InterfaceDown", "LinkDownTrap", "SnmpHostStorageAlmostFull", "UpsLowRuntime"} <= {
        r.name for r in snmp_rules
    }
    unknown = {(r.name, label) for r in snmp_rules for label in labels_named_by(r) - known - set(r.labels)}
    assert unknown == set()


def test_the_default_rule_set_covers_what_the_hospital_needs() -> None:
    rules = load_rules_dir(DEFAULT_RULES)
    by_type: dict[str, set[str]] = {}
    for r in rules.rules:
        by_type.setdefault(r.condition.type, set()).add(r.name)
    assert {"threshold", "compare", "all", "missing", "change", "rate", "predict", "event"} <= set(by_type)
    names = {r.name for r in rules.rules}
    for expected in (
        "FilesystemAlmostFull",
        "FilesystemFillingUp",
        "HostSilent",
        "ClockSkew",
        "CertificateExpiring",
        "HostRestarted",
        "BackupTooOld",
        "BackupMuchSmaller",
        "InterfaceDown",
        "DeviceSilent",
        "InterfaceInErrors",
        "UpsOnBattery",
        "UpsLowRuntime",
        "StoragePoolFillingUp",
    ):
        assert expected in names
    assert all(rules.plan_for(r) for r in rules.rules)  # every rule links its emergency plan
    events = [r.condition for r in rules.rules if isinstance(r.condition, EventCondition)]
    assert all(e.event.startswith("snmp\\.") for e in events)  # trap kinds are snmp.<name>


def test_rules_check_accepts_the_default_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(DEFAULT_RULES)]) == 0
    assert "rules in 5 file(s): OK" in capsys.readouterr().out


def test_rules_check_prints_file_line_field_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n"
        "  - name: DiskFull\n"
        "    condition: {type: threshold, metric: wardwatch_filesystem_used_ratio, op: '>>', value: 0.9}\n"
        "    severity: major\n"
        "    category: system_failure\n"
        "    summary: full\n"
        "    colour: red\n"
    )
    assert main(["rules", "check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: rules[0].condition.op: Input should be '>'" in err
    assert f"{bad}:7: rules[0].colour: unknown field" in err
    assert "2 problem(s) in 1 file(s)" in err


def test_rules_check_of_a_missing_path_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(tmp_path / "nope")]) == 1
    assert "no such file or directory" in capsys.readouterr().err


def test_rules_test_runs_the_default_rule_tests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", str(DEFAULT_RULES / "tests" / "default_rules_test.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok") == 7 and "7/7 tests passed" in out


def test_rules_test_reports_unexpected_and_missing_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test_file = tmp_path / "t.yaml"
    test_file.write_text(
        f"""
rule_files: [{DEFAULT_RULES}/hosts.yaml]
tests:
  - name: wrong expectations
    sources:
      - kind: agent
        name: his-db-01
        reports:
          - at: 0s
            until: 6m
            series:
              'wardwatch_filesystem_used_ratio{{mountpoint="/data",device="/dev/sdb1",fstype="xfs"}}': 0.95
    checks:
      - {{at: 1m, rule: FilesystemAlmostFull, firing: []}}
      - {{at: 6m, rule: FilesystemAlmostFull, firing: [{{labels: {{mountpoint: /var}}}}]}}
      - {{at: 6m, rule: NoSuchRule, firing: []}}
"""
    )
    assert main(["rules", "test", str(test_file)]) == 1
    err = capsys.readouterr().err
    assert "wrong expectations: FAILED" in err
    assert "no rule named 'NoSuchRule'" in err
    # fix the unknown rule: now the two wrong expectations show
    test_file.write_text(
        test_file.read_text().replace("      - {at: 6m, rule: NoSuchRule, firing: []}\n", "")
    )
    assert main(["rules", "test", str(test_file)]) == 1
    err = capsys.readouterr().err
    assert "at 6m" not in err  # times are printed in seconds
    assert "at 360s FilesystemAlmostFull: expected firing {'labels': {'mountpoint': '/var'}}" in err
    assert "at 360s FilesystemAlmostFull: unexpected firing" in err and "'mountpoint': '/data'" in err
    assert "at 60s" not in err  # pending at 1 min: nothing firing, as expected


def test_rules_test_file_errors_name_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test_file = tmp_path / "t.yaml"
    test_file.write_text(
        f"rule_files: [{DEFAULT_RULES}]\ntests:\n  - name: x\n    checks:\n      - {{at: soon, rule: HostSilent}}\n"
    )
    assert main(["rules", "test", str(test_file)]) == 1
    assert f"{test_file}:5: tests[0].checks[0].at:" in capsys.readouterr().err


def test_rules_test_replays_a_recorded_agent_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.collector.conftest import report_dict

    recorded = report_dict(
        "his-db-01", timestamp=1795852800.0
    )  # what `wardwatch-agent --once --print` writes
    recorded["filesystems"][0].update(used_bytes=960, free_bytes=40)
    (tmp_path / "his-db-01.json").write_text(json.dumps(recorded))
    test_file = tmp_path / "t.yaml"
    test_file.write_text(
        f"""
rule_files: [{DEFAULT_RULES}]
tests:
  - name: the recorded report is 96 % full on /data
    sources:
      - kind: agent
        name: his-db-01
        reports: [{{at: 0s, until: 6m, report_file: his-db-01.json}}]
    checks:
      - {{at: 4m, rule: FilesystemAlmostFull, firing: []}}
      - {{at: 5m, rule: FilesystemAlmostFull, firing: [{{labels: {{mountpoint: /data, fstype: xfs}}, value: 0.96}}]}}
      - {{at: 5m, rule: HostSilent, firing: []}}
"""
    )
    assert main(["rules", "test", str(test_file)]) == 0, capsys.readouterr().err
    (tmp_path / "his-db-01.json").write_text(json.dumps({**recorded, "system": {"load1": "high"}}))
    assert main(["rules", "test", str(test_file)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'his-db-01.json'}: system." in err


def test_rules_check_on_a_folder_without_rules_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "check", str(tmp_path)]) == 1
    assert f"no rule files (*.yaml) in {tmp_path}" in capsys.readouterr().err
