"""``wardwatch demo`` (what ``make run`` starts): a collector, a local agent, simulated SNMP devices
and, when installed, a local Prometheus, all on loopback, with data under ``var/demo``.

Every part is a child process; Ctrl-C (or SIGTERM) stops them all, newest first.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from collector.settings import hash_token

COLLECTOR_PORT = 9400
PROMETHEUS_PORT = 9490


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_http(url: str, proc: subprocess.Popen, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (loopback)
                if resp.status < 500:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def run_demo(config_dir: Path, data_dir: Path, *, prometheus: bool = True) -> int:
    if not _port_free(COLLECTOR_PORT):
        print(
            f"wardwatch demo: 127.0.0.1:{COLLECTOR_PORT} is taken (is a demo already running?)",
            file=sys.stderr,
        )
        return 1
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "backups").mkdir(exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)

    host = socket.gethostname().split(".")[0] or "localhost"
    token = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    collector_env = {
        **env,
        "WARDWATCH_AGENTS": json.dumps([{"host": host, "token_sha256": hash_token(token)}]),
    }
    agent_env = {**env, "WARDWATCH_AGENT_TOKEN": token, "WARDWATCH_AGENT_HOST": host}
    bindir = Path(sys.executable).parent
    children: list[tuple[str, subprocess.Popen]] = []

    def start(name: str, cmd: list[str], child_env: dict[str, str]) -> subprocess.Popen:
        log = (logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            cmd, env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        children.append((name, proc))
        return proc

    def stop_all(*_: object) -> None:
        for _name, proc in reversed(children):
            if proc.poll() is None:
                proc.terminate()
        for name, proc in reversed(children):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"  {name} did not stop in 10 s; killing it")
                proc.kill()
        children.clear()

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    url = f"http://127.0.0.1:{COLLECTOR_PORT}"
    try:
        collector = start(
            "collector",
            [str(bindir / "wardwatch"), "collector", "run", "--config", str(config_dir / "collector.yaml")],
            collector_env,
        )
        if not _wait_http(f"{url}/healthz", collector):
            print(f"the collector did not start; see {logs / 'collector.log'}:", file=sys.stderr)
            print((logs / "collector.log").read_text()[-2000:], file=sys.stderr)
            return 1
        start(
            "agent", [str(bindir / "wardwatch-agent"), "--config", str(config_dir / "agent.yaml")], agent_env
        )
        prom_url = None
        if prometheus and shutil.which("prometheus") and _port_free(PROMETHEUS_PORT):
            prom = start(
                "prometheus",
                [
                    "prometheus",
                    f"--config.file={config_dir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={data_dir / 'prometheus'}",
                    f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
                ],
                env,
            )
            if _wait_http(f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready", prom, 20):
                prom_url = f"http://127.0.0.1:{PROMETHEUS_PORT}"

        print(
            f"""
wardwatch is running (Ctrl-C stops everything).

  collector        {url}
    metrics        {url}/metrics        (what Prometheus scrapes)
    health         {url}/healthz  {url}/readyz
  local agent      host "{host}", reporting every 5 s
  prometheus       {prom_url or "not started (install Debian's prometheus, or port taken)"}{
                ""
                if not prom_url
                else f'''
    try            {prom_url}/graph?g0.expr=wardwatch_filesystem_used_ratio'''
            }
  logs             {logs}/
  data             {data_dir}/

Try:  curl -s {url}/metrics | grep '^wardwatch_agent_up'
""",
            flush=True,
        )
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    print(
                        f"{name} exited with {proc.returncode}; see {logs / (name + '.log')}", file=sys.stderr
                    )
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    finally:
        stop_all()
        print("stopped.")
