"""The example collector settings load as the collector loads them, and keep production defaults."""

from __future__ import annotations

import os
from pathlib import Path

from collector.settings import CollectorSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "collector.yaml"


def test_example_collector_settings_are_valid(monkeypatch):
    for name in list(os.environ):
        if name.startswith("WARDWATCH_"):
            monkeypatch.delenv(name)
    settings = CollectorSettings.load(EXAMPLE)
    assert settings.data_dir == Path("/var/lib/wardwatch")
    assert settings.http.host == "0.0.0.0" and settings.http.port == 9400
    assert settings.snmp.enabled and settings.snmp.trap_port == 162
    assert settings.snmp.inventory_file == Path("/etc/wardwatch/inventory.yaml")
    assert settings.alerting.rules_dir == Path("/etc/wardwatch/rules")
    assert settings.allow_unauthenticated_agents is False
    assert settings.alerting.store is None  # secrets go in collector.env, never in this file


def test_example_holds_no_real_token_hash():
    for agent in CollectorSettings.load(EXAMPLE).agents:
        assert set(agent.token_sha256) == {"0"}, f"{agent.host}: a placeholder, replaced at install"
