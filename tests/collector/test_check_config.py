"""``wardwatch collector check-config`` checks what start-up reads: settings, inventory, rules, roster, policies."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def check(config: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "collector", "check-config", "--config", str(config)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_demo_configuration_passes_every_part() -> None:
    done = check(REPO / "deploy/demo/collector.yaml")
    assert done.returncode == 0, done.stderr
    for part in ("OK: settings", "OK: SNMP inventory", "OK: rules", "OK: roster and escalation policies"):
        assert part in done.stdout


def test_a_broken_roster_is_named_with_file_line_and_field(tmp_path: Path) -> None:
    rosters = tmp_path / "rosters"
    shutil.copytree(REPO / "rosters", rosters)
    roster = rosters / "example-hospital.yaml"
    roster.write_text(
        roster.read_text(encoding="utf-8").replace(
            "members: [zhang-wei, li-na, wang-fang]", "members: [zhang-wei, li-nan]"
        ),
        encoding="utf-8",
    )
    config = tmp_path / "collector.yaml"
    config.write_text(f"rosters: {{path: {rosters}}}\nalerting: {{rules_dir: {REPO / 'deploy/rules'}}}\n")

    done = check(config)

    assert done.returncode == 2
    assert f"{roster}:" in done.stderr and "members[1]" in done.stderr and "li-nan" in done.stderr


def test_missing_escalation_policies_fail_the_check(tmp_path: Path) -> None:
    rosters = tmp_path / "rosters"
    rosters.mkdir()
    shutil.copy(REPO / "rosters/example-hospital.yaml", rosters)
    config = tmp_path / "collector.yaml"
    config.write_text(f"rosters: {{path: {rosters}}}\nalerting: {{rules_dir: null}}\n")

    done = check(config)

    assert done.returncode == 2 and "no escalation policies" in done.stderr
