"""promtool accepts the production Prometheus config and the recording rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: prometheus)")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=30, check=False)


@needs_promtool
def test_promtool_accepts_the_recording_rules():
    files = sorted(PROM_DIR.glob("rules/*.yml"))
    assert files
    result = _promtool("check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_accepts_the_config_with_its_rule_files(tmp_path: Path):
    """The config names /etc/prometheus/rules/*.yml (where compose and the package put them): check it with
    that glob pointed at the repository's rules, so promtool loads them through the config as well."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    config["rule_files"] = [str(PROM_DIR / "rules" / "*.yml")]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = _promtool("check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sorted(PROM_DIR.glob("rules/*.yml"))
    for path in rules:
        assert f"Checking {path}" in result.stdout  # the rules were loaded through the config
    assert f"SUCCESS: {len(rules)} rule files found" in result.stdout


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path):
    """The check above can fail: a rule with bad PromQL is refused."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: x\n    rules:\n      - record: wardwatch:x\n        expr: rate(wardwatch_up[5m]\n"
    )
    assert _promtool("check", "rules", str(bad)).returncode != 0


def test_the_collector_is_scraped_where_it_listens():
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "wardwatch")
    collector = yaml.safe_load((REPO / "deploy" / "examples" / "collector.yaml").read_text())
    assert job["static_configs"][0]["targets"] == [f"127.0.0.1:{collector['http']['port']}"]


def test_alertmanager_hands_alerts_to_the_collector_intake():
    config = yaml.safe_load((PROM_DIR / "alertmanager.yml").read_text())
    (receiver,) = config["receivers"]
    assert config["route"]["receiver"] == receiver["name"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"].endswith("/api/v1/alerts/alertmanager")
    assert hook["http_config"]["authorization"]["credentials_file"].startswith("/etc/alertmanager/secrets/")
