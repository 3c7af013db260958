"""A production install of the collector (``pip install '.[collector]'``, no test tools) starts and is ready:
every library the collector imports is declared in the ``collector`` extra, not pulled in by the dev tools."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.prometheus import free_port

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "collector", "alerting", "dashboards")


def _run(*cmd: str, timeout: float = 300) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


@pytest.mark.slow
def test_the_collector_extra_alone_runs_the_collector(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src)
    for name in PACKAGES:
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    _run(str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", f"{src}[collector]")
    installed = {p["name"].lower() for p in json.loads(_run(str(venv / "bin/pip"), "list", "--format=json"))}
    assert not installed & {"pytest", "trustme", "snmpsim", "aiosmtpd"}  # nothing of the dev extra

    port = free_port()
    config = tmp_path / "collector.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"http: {{port: {port}}}\n"
        f"alerting: {{rules_dir: {REPO / 'deploy/rules'}}}\n"
        f"rosters: {{path: {REPO / 'rosters'}}}\n"
        f"snmp: {{enabled: true, inventory_file: {REPO / 'deploy/examples/inventory.yaml'}, trap_port: 0}}\n"
    )
    wardwatch = str(venv / "bin/wardwatch")
    _run(wardwatch, "collector", "check-config", "--config", str(config))
    log = tmp_path / "collector.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [wardwatch, "collector", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while True:  # an outside process: poll its readiness, bounded
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"not ready in 60 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
