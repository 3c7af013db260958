"""``wardwatch collector run`` that cannot start says what and where, exits 1, and prints no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.prometheus import free_port

REPO = Path(__file__).resolve().parents[2]


def run(config: str, tmp_path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "collector.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\nalerting: {{rules_dir: null}}\nrosters: {{path: {REPO / 'rosters'}}}\n"
        + config
    )
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "collector", *(command or ("run",)), "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_the_http_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(f"http: {{port: {port}}}\n", tmp_path)
    assert done.returncode == 1
    assert f"wardwatch: cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


def test_the_trap_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        trap_port = taken.getsockname()[1]
        inventory = REPO / "deploy/examples/inventory.yaml"
        config = f"http: {{port: {free_port()}}}\nsnmp: {{enabled: true, inventory_file: {inventory}, trap_port: {trap_port}}}\n"
        done = run(config, tmp_path)
    assert done.returncode == 1
    assert f"SNMP trap receiver: cannot bind udp 127.0.0.1:{trap_port}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [("run",), ("check-config",)])
def test_a_missing_certificate_is_named_before_anything_starts(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "collector.crt"
    config = f"http: {{port: {free_port()}, tls_cert_file: {missing}, tls_key_file: {tmp_path / 'collector.key'}}}\n"
    done = run(config, tmp_path, *command)
    assert done.returncode == (1 if command == ("run",) else 2)
    assert f"TLS: cannot load the certificate {missing}" in done.stderr and "Traceback" not in done.stderr
