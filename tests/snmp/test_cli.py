from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main
from collector.snmp.simulator import Simulator
from tests.snmp.conftest import V3_AUTH, V3_PRIV, V3_USER, Snmpd


def test_check_inventory_lists_devices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snmp", "check-inventory", "deploy/examples/inventory.yaml"]) == 0
    out = capsys.readouterr().out
    assert (
        "PACS-STOR01: 127.0.0.1:11161 v2c profiles=system,huawei-oceanstor,host-resources parent=HOSP-CORE-SW01"
        in out
    )
    assert out.rstrip().endswith("ok: 5 devices")


def test_check_inventory_fails_with_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("devices:\n  - {name: sw, address: 10.0.0.1, community: x, interval_seconds: 0}\n")
    assert main(["snmp", "check-inventory", str(bad)]) == 2
    assert f"{bad}: devices[sw].interval_seconds:" in capsys.readouterr().err


def test_probe_prints_what_the_device_has(simulator: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["snmp", "probe", f"127.0.0.1:{simulator.port}", "--community", "ups", "--profile", "ups"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "wardwatch_snmp_ups_battery_status{} 2  # normal" in out
    assert 'wardwatch_snmp_ups_output_load_percent{line="3"} 47' in out


def test_probe_v3_and_a_wrong_password_reported_without_secrets(
    snmpd: Snmpd, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [
        "snmp",
        "probe",
        f"127.0.0.1:{snmpd.port}",
        "--v3-user",
        V3_USER,
        "--priv-password",
        V3_PRIV,
        "--timeout",
        "1",
    ]
    assert main([*common, "--auth-password", V3_AUTH, "--profile", "system"]) == 0
    assert 'sys_name="wardwatch-lab-snmpd"' in capsys.readouterr().out
    assert main([*common, "--auth-password", "Wrong-Auth-Secret-3"]) == 1
    captured = capsys.readouterr()
    assert "error (auth_failure)" in captured.err
    for secret in ("Wrong-Auth-Secret-3", V3_PRIV):
        assert secret not in captured.err + captured.out
