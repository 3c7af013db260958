"""The offline install path: the scripts parse, install.sh checks the wheelhouse and never reaches for the
network. The full round trip (build a wheelhouse online, install from it offline) runs when
WARDWATCH_TEST_WHEELHOUSE names a wheelhouse made by deploy/offline/build-wheelhouse.sh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

OFFLINE = Path(__file__).resolve().parents[2] / "deploy" / "offline"
BUILD, INSTALL = OFFLINE / "build-wheelhouse.sh", OFFLINE / "install.sh"


def _install(wheelhouse: Path, role: str, prefix: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), str(wheelhouse), role],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_SYSTEM": "1", "PREFIX": str(prefix), **env},
    )


@pytest.mark.parametrize("script", [BUILD, INSTALL], ids=lambda p: p.name)
def test_scripts_parse_and_are_strict(script: Path):
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    assert "set -euo pipefail" in script.read_text()
    assert os.access(script, os.X_OK)


def test_install_uses_only_the_wheelhouse():
    pip_installs = [line for line in INSTALL.read_text().splitlines() if '/bin/pip" install' in line]
    assert len(pip_installs) == 2
    assert all('--no-index --find-links "$wheelhouse"' in line for line in pip_installs)


def test_install_refuses_a_damaged_wheelhouse(tmp_path: Path):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    (wheelhouse / "wardwatch-0.1.0-py3-none-any.whl").write_bytes(b"tampered")
    (wheelhouse / "SHA256SUMS").write_text("0" * 64 + "  ./wardwatch-0.1.0-py3-none-any.whl\n")
    result = _install(wheelhouse, "collector", tmp_path / "venv")
    assert result.returncode == 1
    assert "damaged" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_install_refuses_an_unknown_role(tmp_path: Path):
    result = _install(tmp_path, "database", tmp_path / "venv")
    assert result.returncode == 2 and "collector or agent" in result.stderr


def test_install_fails_rather_than_download_what_the_wheelhouse_lacks(tmp_path: Path):
    """An empty wheelhouse: pip must give up (no index), even with an index configured around it."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    result = _install(wheelhouse, "agent", tmp_path / "venv", PIP_INDEX_URL="http://127.0.0.1:9/simple")
    assert result.returncode != 0
    assert "No matching distribution found" in result.stderr
    assert "127.0.0.1:9" not in result.stderr  # pip never tried the index


@pytest.mark.skipif(
    not os.environ.get("WARDWATCH_TEST_WHEELHOUSE"),
    reason="set WARDWATCH_TEST_WHEELHOUSE to a wheelhouse from deploy/offline/build-wheelhouse.sh",
)
def test_collector_installs_from_the_wheelhouse_alone(tmp_path: Path):
    wheelhouse = Path(os.environ["WARDWATCH_TEST_WHEELHOUSE"])
    result = _install(wheelhouse, "collector", tmp_path / "venv", PIP_CONFIG_FILE=os.devnull)
    assert result.returncode == 0, result.stderr
    out = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "wardwatch"), "dashboards", "build", "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d" / "wardwatch-wall.json").is_file()
