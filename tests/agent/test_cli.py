"""``wardwatch-agent`` as a process: check-config, --once --print, sending, spool across restarts, SIGTERM."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.__main__ import next_slot
from agent.wire import Report
from tests.agent.conftest import TOKEN, FakeCollector, free_port

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, **settings) -> Path:
    settings.setdefault("host", "his-db-01")
    settings.setdefault("labels", {"site": "north", "system": "HIS"})
    settings.setdefault("spool", {"dir": str(tmp_path / "spool")})
    settings.setdefault("checks", {"files": [{"name": "backup", "glob": str(tmp_path / "*.dump")}]})
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    env["WARDWATCH_AGENT_TOKEN"] = TOKEN
    return env


async def _agent(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", *args, cwd=ROOT, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_check_config_ok_and_errors(tmp_path: Path) -> None:
    good = _config(tmp_path, collectors=["http://127.0.0.1:9400"])
    rc, out, _ = await _agent("--config", str(good), "--check-config")
    assert (rc, out.strip()) == (0, f"OK: {good}")
    bad = tmp_path / "bad.yaml"
    bad.write_text("collectors: [http://127.0.0.1:9400]\nchecks: {ports: [{name: db, target: nope}]}\n")
    rc, out, err = await _agent("--config", str(bad), "--check-config")
    assert rc == 1 and "OK" not in out
    assert f"{bad}" in err and "checks.ports.0.target" in err and "host:port" in err


async def test_a_variable_that_cannot_be_parsed_is_a_configuration_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "--config", str(config), "--once", "--print", cwd=ROOT,
        env={**_env(), "WARDWATCH_AGENT_COLLECTORS": "[not json"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert (proc.returncode, out) == (1, b"")
    assert err.decode().startswith("wardwatch-agent: configuration error:\nenvironment: ")
    assert '"collectors"' in err.decode() and "Traceback" not in err.decode()


async def test_once_print_outputs_one_valid_report(tmp_path: Path) -> None:
    (tmp_path / "a.dump").write_bytes(b"x" * 123)
    rc, out, err = await _agent("--config", str(_config(tmp_path)), "--once", "--print")
    assert rc == 0, err
    (line,) = out.splitlines()
    report = Report.model_validate_json(line)
    assert report.agent.host == "his-db-01" and report.agent.labels == {"site": "north", "system": "HIS"}
    assert report.seq == 1 and report.files[0].newest_size_bytes == 123
    assert TOKEN not in out + err


async def test_once_spools_and_a_restart_sends_its_own_report_then_replays_the_spool(
    tmp_path: Path, start_collector
) -> None:
    port = free_port()
    config = _config(tmp_path, collectors=[f"http://127.0.0.1:{port}"], retry={"attempts": 1})
    rc, _, err = await _agent("--config", str(config), "--once")  # nobody listens: spooled
    assert rc == 0, err
    assert len(list((tmp_path / "spool").glob("*.json.gz"))) == 1
    assert TOKEN not in err

    collector = await start_collector(FakeCollector(), port=port)  # the collector comes back
    rc, _, err = await _agent("--config", str(config), "--once")
    assert rc == 0, err
    fresh, spooled = collector.received
    assert (fresh.seq, spooled.seq) == (1, 1)  # one from each agent run
    assert spooled.timestamp < fresh.timestamp  # the fresh one first (the collector's current values)
    assert spooled.sent_at > fresh.sent_at > spooled.timestamp  # the spooled one resent, after it
    assert not list((tmp_path / "spool").glob("*.json.gz"))


async def test_sigterm_stops_the_loop_cleanly(tmp_path: Path, start_collector) -> None:
    collector = await start_collector()
    config = _config(tmp_path, collectors=[collector.url], interval_seconds=0.2)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "--config", str(config), cwd=ROOT, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(3):  # three reports arrive on the interval schedule
            collector.arrived.clear()
            await asyncio.wait_for(collector.arrived.wait(), 10)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert [r.seq for r in collector.received][:3] == [1, 2, 3]
    assert "Traceback" not in err.decode()


@pytest.mark.slow
async def test_a_venv_with_only_base_dependencies_runs_the_agent(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "agent", src / "agent", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    for cmd in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(src)],
    ):
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 240)
        assert proc.returncode == 0, out.decode()[-2000:]
    proc = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "pip"), "list", "--format=json", stdout=subprocess.PIPE
    )
    installed = {p["name"].lower() for p in json.loads((await proc.communicate())[0])}
    assert not installed & {"prometheus-client", "pysnmp", "apscheduler", "pytest"}
    proc = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "wardwatch-agent"), "--config", str(_config(tmp_path)), "--once", "--print",
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    report = Report.model_validate_json(out)
    assert report.agent.host == "his-db-01" and report.system.memory.total_bytes > 0


@pytest.mark.parametrize(
    ("cycle", "elapsed", "expected"),
    [
        (0, 0.004, 1),  # cycle 0 took 4 ms: next at 15 s, not 15.004 s (no drift)
        (7, 105.3, 8),  # on time
        (1, 44.0, 3),  # cycle 1 overran to 44 s: slot 2 (30 s) is skipped, next at 45 s
        (3, 44.999, 4),  # woke a hair early: never repeat a slot
    ],
)
def test_schedule_is_drift_free_and_skips_missed_slots(cycle: int, elapsed: float, expected: int) -> None:
    assert next_slot(cycle, elapsed_seconds=elapsed, interval_seconds=15) == expected


HEAVY = {"collector", "alerting", "dashboards", "prometheus_client", "pysnmp", "aiohttp", "pydantic", "pydantic_core",
         "pydantic_settings", "yaml"}  # fmt: skip


@pytest.mark.parametrize("mode", ["print", "send"])
async def test_the_running_agent_never_imports_pydantic_yaml_aiohttp_or_the_collector(
    tmp_path: Path, start_collector, mode: str
) -> None:
    """Settings are validated in a child process; the daemon itself stays small (docs/agent.md, "Footprint")."""
    collector = await start_collector()
    (tmp_path / "a.dump").write_bytes(b"x")
    checks = {
        "files": [{"name": "backup", "glob": str(tmp_path / "*.dump")}],
        "ports": [{"name": "collector", "target": collector.url.removeprefix("http://")}],
        "http": [{"name": "collector", "url": f"{collector.url}/api/v1/reports", "expect_status": 405}],
    }
    config = _config(tmp_path, collectors=[collector.url], checks=checks)
    script = (
        "import sys\n"
        "from agent.__main__ import main\n"
        "code = main(sys.argv[1:])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r})\n"
        "print(code, heavy, file=sys.stderr)\n"
    )
    args = ["--config", str(config), "--once"] + (["--print"] if mode == "print" else [])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, *args, cwd=ROOT, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert err.decode().strip().splitlines()[-1] == "0 []"
    if mode == "print":
        report = Report.model_validate_json(out)
    else:
        (report,) = collector.received
    assert report.files[0].files == 1 and report.ports[0].up
    assert (report.http[0].status_code, report.http[0].up) == (405, True)
