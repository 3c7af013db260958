"""``wardwatch demo`` (what ``make run`` starts): the whole product on loopback, with data under ``var/demo``.

- simulated SNMP devices (snmpsim, ``collector.snmp.simulator``) for the example inventory: switches, a storage
  array, a UPS;
- the collector with the default rules, the incident store, the example roster and its escalation policies;
- a local agent reporting this machine;
- a local Prometheus scraping the collector (when Debian's ``prometheus`` is installed);
- the demo pager: an HTTP receiver standing in for the SMS gateway, the WeCom/DingTalk robots and webhooks,
  printing one line per page to the console and ``logs/pages.log``.

The settings are ``deploy/demo/*.yaml``; the demo writes the ones it runs with (its ports and data folder
applied) to ``<data>/config/``. Each run makes a fresh agent token and link secret and passes them to the
children through the environment; neither is printed or written. Every part but the pager (a thread) is a
child process in its own session, so Ctrl-C reaches only the demo, which stops them all, newest first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from alerting.rosters import load_roster, who_is_on_duty
from alerting.yaml_lines import ConfigError
from collector.demo_pager import Pager, address_book
from collector.settings import hash_token
from collector.snmp.simulator import answers, serve_command

LOOPBACK = "127.0.0.1"
DEFAULT_DATA = "var/demo"  # what the files in deploy/demo/ say; replaced by the data folder in use


@dataclass(frozen=True)
class DemoPorts:
    collector: int = 9400  # TCP: the collector (API, /metrics, acknowledge links)
    prometheus: int = 9490  # TCP: Prometheus's UI
    pager: int = 9499  # TCP: the demo pager
    snmp: int = 11161  # UDP: the simulated devices
    traps: int = 11162  # UDP: the collector's trap receiver


DEFAULT_PORTS = DemoPorts()
_UDP = ("snmp", "traps")


def _port_free(port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((LOOPBACK, port))
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


def _wait_snmp(port: int, proc: subprocess.Popen, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if answers(LOOPBACK, port):
            return True
        time.sleep(0.2)
    return False


# -- the settings the demo runs with ---------------------------------------------------------------------------


def _localise(obj: Any, ports: DemoPorts, data_dir: Path) -> Any:
    """Every ``127.0.0.1:<default port>`` in a string gets the port in use, and ``var/demo`` the data folder."""
    swap = {str(getattr(DEFAULT_PORTS, f.name)): str(getattr(ports, f.name)) for f in fields(DemoPorts)}
    if isinstance(obj, dict):
        return {k: _localise(v, ports, data_dir) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_localise(v, ports, data_dir) for v in obj]
    if isinstance(obj, str):
        obj = re.sub(r"127\.0\.0\.1:(\d+)\b", lambda m: f"{LOOPBACK}:{swap.get(m[1], m[1])}", obj)
        if obj == DEFAULT_DATA or obj.startswith(DEFAULT_DATA + "/"):
            obj = str(data_dir) + obj[len(DEFAULT_DATA) :]
    return obj


@dataclass(frozen=True)
class DemoConfig:
    collector: Path
    agent: Path
    prometheus: Path
    collector_settings: dict[str, Any]
    devices: list[str]
    agent_interval_seconds: float


def write_configs(config_dir: Path, data_dir: Path, ports: DemoPorts) -> DemoConfig:
    """``config_dir``'s settings with ``ports`` and ``data_dir`` applied, written to ``data_dir/config``.
    Whatever the files say, everything listens on 127.0.0.1."""
    out = data_dir / "config"
    out.mkdir(parents=True, exist_ok=True)

    def load(name: str) -> dict[str, Any]:
        return _localise(
            yaml.safe_load((config_dir / name).read_text(encoding="utf-8")) or {}, ports, data_dir
        )

    def write(name: str, data: dict[str, Any], source: Path | None = None) -> Path:
        path = out / name
        header = f"# Written by `wardwatch demo` from {source or config_dir / name} at each start: edit that one.\n"
        path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    col = load("collector.yaml")
    col["data_dir"] = str(data_dir)
    col["http"] = {**col.get("http", {}), "host": LOOPBACK, "port": ports.collector}
    snmp = col.setdefault("snmp", {})
    snmp.update(trap_host=LOOPBACK, trap_port=ports.traps)
    devices: list[str] = []
    if snmp.get("enabled") and snmp.get("inventory_file"):
        source = Path(snmp["inventory_file"])
        inventory = _localise(yaml.safe_load(source.read_text(encoding="utf-8")), ports, data_dir)
        for device in inventory.get("devices", []):
            devices.append(device["name"])
            if device.get("address") == LOOPBACK and device.get("port") == DEFAULT_PORTS.snmp:
                device["port"] = ports.snmp
        snmp["inventory_file"] = str(write("inventory.yaml", inventory, source))
    agent = load("agent.yaml")
    return DemoConfig(
        collector=write("collector.yaml", col),
        agent=write("agent.yaml", agent),
        prometheus=write("prometheus.yml", load("prometheus.yml")),
        collector_settings=col,
        devices=devices,
        agent_interval_seconds=float(agent.get("interval_seconds", 15)),
    )


# -- the banner ----------------------------------------------------------------------------------------------


def on_duty_now(roster_path: Path) -> str:
    """Who holds each team's primary layer now, and the IT head ("张伟 (systems), ...; IT head 周敏")."""
    try:
        roster = load_roster(roster_path)
    except (ConfigError, OSError) as err:
        return f"the roster does not load: {str(err).splitlines()[0]}"
    board = who_is_on_duty(roster, datetime.now(UTC))
    primary = [
        f"{', '.join(p.name for p in people) or 'nobody'} ({team})"
        for (team, layer), people in board.layers.items()
        if layer == "primary"
    ]
    head = ", ".join(p.name for p in board.positions.get("it-head", ()) if not p.duty_phone)
    return ", ".join(primary) + (f"; IT head {head}" if head else "")


def _shown(path: Path | str) -> str:
    """A path as a user in the current folder would type it."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else str(path)


def banner(cfg: DemoConfig, ports: DemoPorts, data_dir: Path, host: str, prom: str) -> str:
    col = cfg.collector_settings
    url = f"http://{LOOPBACK}:{ports.collector}"
    ww = _shown(Path(sys.executable).parent / "wardwatch")
    roster = Path(col.get("rosters", {}).get("path", "rosters"))
    logs = _shown(data_dir / "logs")
    store = _shown(data_dir / "wardwatch.db")
    devices = ", ".join(cfg.devices) or "none (snmp is off)"
    roster_opt = (
        "" if roster in (Path("rosters"), Path("rosters/example-hospital.yaml")) else f" --roster {roster}"
    )
    return f"""
wardwatch demo is running on {LOOPBACK}. Ctrl-C stops everything.

  collector     {url}   metrics {url}/metrics
  prometheus    {prom}
  local agent   this machine as host "{host}", reporting every {cfg.agent_interval_seconds:g} s
  SNMP devices  {devices}
                (snmpsim on udp {ports.snmp}; traps to udp {ports.traps})
  rules         {col.get("alerting", {}).get("rules_dir", "deploy/rules")} -> incidents in {store}
  on duty now   {on_duty_now(roster)}
  pager         http://{LOOPBACK}:{ports.pager} stands in for SMS, WeCom, DingTalk and webhooks:
                each page is a line below, and in {logs}/pages.log with its acknowledge link
  logs          {logs}/

Try:  {ww} incidents list --store {store}
      {ww} roster who{roster_opt}
      curl -s {url}/metrics | grep '^wardwatch_snmp_up'
      touch {_shown(data_dir / "backups")}/today.dump     (the local agent's backup check then passes)
"""


# -- running it ----------------------------------------------------------------------------------------------


def run_demo(
    config_dir: Path, data_dir: Path, *, prometheus: bool = True, ports: DemoPorts = DEFAULT_PORTS
) -> int:
    taken = [
        f"{'udp' if f.name in _UDP else 'tcp'} {LOOPBACK}:{getattr(ports, f.name)} ({f.name})"
        for f in fields(DemoPorts)
        if f.name != "prometheus"
        and not _port_free(
            getattr(ports, f.name), socket.SOCK_DGRAM if f.name in _UDP else socket.SOCK_STREAM
        )
    ]
    if taken:
        print(f"wardwatch demo: taken (is a demo already running?): {', '.join(taken)}", file=sys.stderr)
        return 1
    logs = data_dir / "logs"
    for d in (data_dir, data_dir / "backups", logs):
        d.mkdir(parents=True, exist_ok=True)
    cfg = write_configs(config_dir, data_dir, ports)

    host = socket.gethostname().split(".")[0] or "localhost"
    token = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    collector_env = {
        **env,
        "WARDWATCH_AGENTS": json.dumps([{"host": host, "token_sha256": hash_token(token)}]),
        "WARDWATCH_NOTIFY__LINK_SECRET": secrets.token_urlsafe(32),
    }
    agent_env = {**env, "WARDWATCH_AGENT_TOKEN": token, "WARDWATCH_AGENT_HOST": host}
    bindir = Path(sys.executable).parent
    children: list[tuple[str, subprocess.Popen]] = []
    roster = Path(cfg.collector_settings.get("rosters", {}).get("path", "rosters"))
    pager = Pager(ports.pager, logs / "pages.log", address_book(roster), sys.stdout)

    def start(name: str, cmd: list[str], child_env: dict[str, str]) -> subprocess.Popen:
        with (logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                cmd, env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        children.append((name, proc))
        return proc

    def failed(name: str, what: str) -> int:
        log = logs / f"{name}.log"
        print(f"wardwatch demo: {name} {what}; the end of {log}:", file=sys.stderr)
        print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
        return 1

    def stop_all() -> None:
        for _name, proc in reversed(children):
            if proc.poll() is None:
                proc.terminate()
        for name, proc in reversed(children):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"  {name} did not stop in 10 s; killing it")
                proc.kill()
                proc.wait(timeout=5)
        children.clear()

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    pager.start()
    try:
        if cfg.devices:
            cache = data_dir / "snmpsim-cache"
            shutil.rmtree(cache, ignore_errors=True)
            sim = start("snmpsim", serve_command(LOOPBACK, ports.snmp, cache), env)
            if not _wait_snmp(ports.snmp, sim):
                return failed("snmpsim", "did not answer")
        collector = start(
            "collector",
            [str(bindir / "wardwatch"), "collector", "run", "--config", str(cfg.collector)],
            collector_env,
        )
        if not _wait_http(f"http://{LOOPBACK}:{ports.collector}/healthz", collector):
            return failed("collector", "did not start")
        start("agent", [str(bindir / "wardwatch-agent"), "--config", str(cfg.agent)], agent_env)
        prom_url = f"http://{LOOPBACK}:{ports.prometheus}"
        if not prometheus:
            prom = "not started (--no-prometheus)"
        elif not shutil.which("prometheus"):
            prom = "not started: install Debian's prometheus package"
        elif not _port_free(ports.prometheus):
            prom = f"not started: {LOOPBACK}:{ports.prometheus} is taken"
        else:
            prom_proc = start(
                "prometheus",
                [
                    "prometheus",
                    f"--config.file={cfg.prometheus}",
                    f"--storage.tsdb.path={data_dir / 'prometheus'}",
                    f"--web.listen-address={LOOPBACK}:{ports.prometheus}",
                ],
                env,
            )
            if not _wait_http(f"{prom_url}/-/ready", prom_proc):
                return failed("prometheus", "did not start")
            prom = f"{prom_url}/graph?g0.expr=wardwatch_snmp_up"
        print(banner(cfg, ports, data_dir, host, prom), flush=True)
        pager.release()
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    return failed(name, f"exited with {proc.returncode}")
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C must not orphan children
            signal.signal(sig, signal.SIG_IGN)
        stop_all()
        pager.stop()
        print("stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m collector.demo``: ``wardwatch demo`` with other ports (tests, a second demo)."""
    parser = argparse.ArgumentParser(prog="python -m collector.demo")
    parser.add_argument("--dir", type=Path, default=Path("deploy/demo"))
    parser.add_argument("--data", type=Path, default=Path(DEFAULT_DATA))
    parser.add_argument("--no-prometheus", action="store_true")
    names = [f.name for f in fields(DemoPorts)]
    parser.add_argument(
        "--port", action="append", default=[], metavar="NAME=N", help=f"NAME: {', '.join(names)}"
    )
    args = parser.parse_args(argv)
    ports = DEFAULT_PORTS
    for item in args.port:
        name, _, number = item.partition("=")
        if name not in names or not number.isdigit():
            parser.error(f"--port {item}: expected NAME=N with NAME one of {', '.join(names)}")
        ports = replace(ports, **{name: int(number)})
    return run_demo(args.dir, args.data, prometheus=not args.no_prometheus, ports=ports)


if __name__ == "__main__":
    sys.exit(main())
