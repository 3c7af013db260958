"""The systemd units: ``systemd-analyze verify`` and ``security --offline`` where systemd-analyze exists
(it needs no running systemd), and the hardening each unit must keep, read from the files themselves."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS_DIR = REPO / "deploy" / "systemd"
UNITS = {
    "collector": UNITS_DIR / "wardwatch-collector.service",
    "agent": UNITS_DIR / "wardwatch-agent.service",
}
INSTALL_BIN = "/opt/wardwatch/venv/bin/"
ANALYZE = shutil.which("systemd-analyze")

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections → key → values (systemd keys repeat; configparser cannot keep them, so parse by hand)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        assert section is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not key=value"
        section.setdefault(key, []).append(value)
    return out


def _installed_copies(tmp_path: Path) -> list[Path]:
    """The units with the install path pointed at this checkout's venv, so verify can check the binaries."""
    copies = []
    bin_dir = Path(sys.executable).parent
    for path in UNITS.values():
        text = path.read_text().replace(INSTALL_BIN, f"{bin_dir}/")
        copy = tmp_path / path.name
        copy.write_text(text)
        copies.append(copy)
    return copies


@needs_analyze
def test_systemd_analyze_verify_accepts_both_units(tmp_path: Path):
    copies = _installed_copies(tmp_path)
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "verify", *map(str, copies)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


@needs_analyze
def test_systemd_analyze_verify_catches_a_missing_binary(tmp_path: Path):
    """The verification above can fail: a unit whose ExecStart does not exist is refused."""
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "verify", str(UNITS["agent"])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "is not executable" in result.stderr


@needs_analyze
@pytest.mark.parametrize("name", sorted(UNITS))
def test_exposure_is_low(tmp_path: Path, name: str):
    copy = next(p for p in _installed_copies(tmp_path) if p.name == UNITS[name].name)
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "security", "--offline=yes", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= 2.0, result.stdout[-3000:]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_runs_as_a_dedicated_user_with_the_hardening(name: str):
    service = _unit(UNITS[name])["Service"]
    one = {k: v[-1] for k, v in service.items()}
    assert one["User"] == one["Group"] == ("wardwatch" if name == "collector" else "wardwatch-agent")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
    }.items():
        assert one.get(key) == value, f"{name}: {key}"
    assert one["ExecStart"].startswith(INSTALL_BIN)
    assert one["StateDirectory"] and one["ReadWritePaths"].split() == [
        f"/var/lib/{one['StateDirectory']}",
        *(["/var/log/wardwatch"] if name == "collector" else []),
    ]
    assert "@system-service" in service["SystemCallFilter"]


def test_collector_may_bind_the_trap_port_and_nothing_more():
    one = {k: v[-1] for k, v in _unit(UNITS["collector"])["Service"].items()}
    assert one["CapabilityBoundingSet"].split() == ["CAP_NET_BIND_SERVICE"]
    assert one["AmbientCapabilities"].split() == ["CAP_NET_BIND_SERVICE"]
    assert one["ProtectHome"] == "yes"


def test_agent_has_no_capabilities_and_stays_out_of_the_way():
    one = {k: v[-1] for k, v in _unit(UNITS["agent"])["Service"].items()}
    assert one["CapabilityBoundingSet"] == "" and one["AmbientCapabilities"] == ""
    assert one["ProtectHome"] == "read-only"  # file checks may read, never write
    assert "ProtectProc" not in one  # process checks must see every process
    assert int(one["Nice"]) > 0 and one["MemoryMax"] and one["CPUQuota"].endswith("%")


def test_both_units_start_after_the_network_and_install_into_multi_user():
    for path in UNITS.values():
        unit = _unit(path)
        assert "network-online.target" in unit["Unit"]["After"][0]
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_sysusers_creates_both_users():
    lines = [
        line.split()
        for line in (UNITS_DIR / "wardwatch.sysusers.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(fields[1] for fields in lines if fields[0] == "u") == ["wardwatch", "wardwatch-agent"]


def test_units_parse_as_ini():
    for path in UNITS.values():
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(path.read_text())
        assert parser.sections() == ["Unit", "Service", "Install"]
