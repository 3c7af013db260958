"""End-to-end page latency (``python -m bench.page_latency``): from the event to the page arriving at a webhook
receiver (aiohttp on 127.0.0.1, in this process), with the collector running as its own process
(``python -m collector.cli collector run``) on SQLite (``--store DSN`` for PostgreSQL).

(a) trap: a real v2c linkDown datagram from net-snmp's ``snmptrap`` (recorded once per sample, each with its own
    ifIndex so every sample opens a new incident; replayed with a plain UDP socket so ``snmptrap``'s start-up is
    not in the figure) to the collector's trap port -> the shipped ``LinkDownTrap`` rule -> incident -> escalation
    loop -> outbox -> webhook. Timed from just before ``sendto`` to the page's arrival. Goal: p99 < 50 ms.

(b) threshold crossing, side by side in the same run on the same crossings: a TCP port this process listens on is
    closed (the crossing: its moment is known exactly) and
    - wardwatch: the real agent (``python -m agent``, ``interval_seconds: 1``, one port check) reports it; the
      collector's copy of the shipped ``PortDown`` rule with ``for: 0`` opens the incident -> page. The agent
      reports at once when the port's listener closes (its default ``prompt_reports``, ``agent/watch.py``);
      ``wardwatch-sampled``, for the record, is a second agent with ``prompt_reports: false``, which sees the
      crossing only at its next 1 s cycle;
    - Prometheus + Alertmanager (Debian's packages): a node_exporter-like exporter in this process that probes the
      same port at scrape time (``bench_port_up``), ``scrape_interval: 1s``, ``evaluation_interval: 1s``, an
      alerting rule with ``for: 0s``, Alertmanager ``group_wait: 0s`` with a webhook receiver -> the same receiver.
    Each crossing waits a random 0..1 s first, so it falls at a random phase of the agent's cycle and of
    Prometheus' scrapes. Where a rule group's evaluation falls after the scrape is fixed by hashing its name, and
    decides much of Prometheus' figure: the same rule sits in 40 groups, and the 10 (``--rule-groups``) whose
    evaluation offsets are nearest to 0.05, 0.15, ... 0.95 s after the scrape are measured, every crossing, as
    over many deployments (each group's alert is its own Alertmanager group). The exporter's series carry a ``trial``
    label, so every crossing is a new Alertmanager group (as every crossing is a new wardwatch incident: the port is
    reopened and the incident resolved before the next one; flapping detection is off). Goal: wardwatch's p99 at
    most half of Prometheus + Alertmanager's.

(defaults, ``--defaults`` or ``--parts defaults``) the same crossing with the settings a fresh install has: Prometheus with the scrape and
    evaluation intervals of Debian's /etc/prometheus/prometheus.yml (15 s), Alertmanager with the timers of Debian's
    /etc/prometheus/alertmanager.yml (``group_wait: 30s``), and the wardwatch agent at its default interval (15 s).
    Few samples (``--defaults-samples``, 10 minutes at most): it takes about a minute and a half per sample.

Every loop is bounded in count and time; every process started here is stopped on the way out, failures included.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yaml
from aiohttp import web

from agent.settings import AgentSettings
from alerting.model import Status
from alerting.store import IncidentStore, open_store
from collector.settings import hash_token

REPO = Path(__file__).resolve().parents[1]
COMMUNITY = "bench-page-community"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_ADMIN, IF_OPER = "1.3.6.1.2.1.2.2.1.7", "1.3.6.1.2.1.2.2.1.8"
# the agents' host names: fast and sampled report every 1 s, sampled without prompt reports (agent/watch.py)
FAST, SAMPLED, DEFAULT = "ward-fast", "ward-sampled", "ward-default"
LOOPBACK = "127.0.0.1"

ROSTER = """\
timezone: Asia/Shanghai
shifts:
  full: {name: 24h, start: "08:00", end: "08:00"}
people:
  - id: duty
    name: 值班员
    contacts: [{kind: webhook, url: "HOOK"}]
rotations:
  - {id: ops, members: [duty], shift: full, start: 2026-01-05, turn: 1d}
teams:
  - {id: ops, name: 运维, layers: {primary: {rotations: [ops]}}}
"""
POLICIES = """\
p1_immediate: []
policies:
  - id: all
    levels:
      - {delay: 0m, targets: [{team: ops, layer: primary}]}
"""


# -- helpers ------------------------------------------------------------------------------------------------------


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float:
    """The q-quantile (nearest rank, as the other benchmarks), in ms."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))] * 1000


def summary(xs: list[float]) -> str:
    if not xs:
        return "no samples"
    return (
        f"n={len(xs)}  p50 {pct(xs, 0.5):.1f} ms  p99 {pct(xs, 0.99):.1f} ms  "
        f"min {min(xs) * 1000:.1f}  max {max(xs) * 1000:.1f}  mean {statistics.mean(xs) * 1000:.1f} ms"
    )


class Processes:
    """Every process this benchmark starts, stopped (TERM, then KILL) on the way out whatever happened."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, cmd: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen:
        with (self.logs / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        self.running[name] = proc
        return proc

    def log_tail(self, name: str, n: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def stop(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.running)[::-1]:
            self.stop(name)


async def wait_http_ok(url: str, proc: subprocess.Popen, what: str, procs: Processes, name: str) -> None:
    """An outside process starting: poll until it answers 200 (bounded: 30 s)."""
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{what} did not start; its log:\n{procs.log_tail(name)}")
            await asyncio.sleep(0.1)


# -- the receiver and the exporter (this process) ---------------------------------------------------------------


Predicate = Callable[[str, dict[str, Any]], bool]


class Receiver:
    """The webhook receiver: every POST is timestamped when its body has been read; expectations registered
    before the event are resolved with that timestamp."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Predicate, asyncio.Future[float]]] = []
        self.received = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        at = time.perf_counter()
        self.received += 1
        path = request.match_info["path"]
        for pred, fut in list(self.waiting):
            if not fut.done() and pred(path, body):
                fut.set_result(at)
                self.waiting.remove((pred, fut))
        return web.Response(text="ok")

    def expect(self, pred: Predicate) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting.append((pred, fut))
        return fut

    def forget(self) -> None:
        for _, fut in self.waiting:
            fut.cancel()
        self.waiting.clear()


@dataclass
class Port:
    """The TCP port whose closing is the crossing; ``trial`` labels the exporter's series."""

    port: int = field(default_factory=free_port)
    trial: int = 0
    server: asyncio.Server | None = None

    @property
    def target(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    async def open(self) -> None:
        async def close_at_once(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.close()

        self.server = await asyncio.start_server(close_at_once, LOOPBACK, self.port, reuse_address=True)

    def close(self) -> None:
        """Stop listening: from now on a connect is refused. Returns at once (the listening socket is closed)."""
        assert self.server is not None
        self.server.close()
        self.server = None

    async def probe(self) -> bool:
        """What node_exporter-like exporters do: look at scrape time."""
        try:
            async with asyncio.timeout(1):
                _, w = await asyncio.open_connection(LOOPBACK, self.port)
        except (OSError, TimeoutError):
            return False
        w.close()
        return True


def receiver_app(receiver: Receiver, port: Port) -> web.Application:
    async def metrics(_request: web.Request) -> web.Response:
        up = 1 if await port.probe() else 0
        text = (
            "# HELP bench_port_up 1 if a TCP connect to the port succeeded at scrape time.\n"
            "# TYPE bench_port_up gauge\n"
            f'bench_port_up{{target="{port.target}",trial="{port.trial}"}} {up}\n'
        )
        return web.Response(text=text, content_type="text/plain")

    app = web.Application()
    app.router.add_post("/hook/{path}", receiver.handle)
    app.router.add_get("/metrics", metrics)
    return app


# -- configuration ----------------------------------------------------------------------------------------------


def rules_dir(tmp: Path) -> Path:
    """The shipped LinkDownTrap rule as it is (with the polled rule its ``same_incident`` names: no poll answers
    here, so that one never fires), and the shipped PortDown rule with ``for: 0``."""
    out = tmp / "rules"
    out.mkdir()
    network = yaml.safe_load((REPO / "deploy" / "rules" / "network.yaml").read_text())
    trap = next((r for r in network["rules"] if r["name"] == "LinkDownTrap"), None)
    assert trap, "deploy/rules/network.yaml has no LinkDownTrap rule"
    partners = set(
        trap.get("same_incident", {}).get("rules", [])
    )  # named rules must exist (polled: never fire here)
    traps = [r for r in network["rules"] if r["name"] == "LinkDownTrap" or r["name"] in partners]
    (out / "traps.yaml").write_text(yaml.safe_dump({"plans": network.get("plans", {}), "rules": traps}))
    hosts = yaml.safe_load((REPO / "deploy" / "rules" / "hosts.yaml").read_text())
    ports = [{**r, "for": 0} for r in hosts["rules"] if r["name"] == "PortDown"]
    assert ports, "deploy/rules/hosts.yaml has no PortDown rule"
    (out / "ports.yaml").write_text(yaml.safe_dump({"plans": hosts.get("plans", {}), "rules": ports}))
    return out


@dataclass
class Setup:
    tmp: Path
    procs: Processes
    receiver: Receiver
    port: Port
    hook_base: str  # http://127.0.0.1:PORT/hook; wardwatch posts to <hook_base>/wardwatch
    exporter_target: str  # 127.0.0.1:PORT (the same aiohttp server serves /metrics)
    store_target: str
    store_schema: str | None
    collector_url: str = ""
    trap_port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)


def collector_config(s: Setup, http_port: int) -> Path:
    s.trap_port = free_port(socket.SOCK_DGRAM)
    inventory = s.tmp / "inventory.yaml"
    device = {
        "name": "bench-sw",
        "address": LOOPBACK,
        "port": free_port(socket.SOCK_DGRAM),  # nobody answers polls: only its traps matter here
        "community": COMMUNITY,
        "interval_seconds": 3600,
        "timeout_seconds": 0.2,
        "retries": 0,
        "profiles": ["system"],
    }
    inventory.write_text(yaml.safe_dump({"devices": [device]}))
    roster = s.tmp / "rosters"
    roster.mkdir()
    (roster / "roster.yaml").write_text(ROSTER.replace("HOOK", f"{s.hook_base}/wardwatch"), encoding="utf-8")
    (roster / "escalation.yaml").write_text(POLICIES, encoding="utf-8")
    s.tokens = {h: f"bench-token-{h}-{uuid.uuid4().hex}" for h in (FAST, SAMPLED, DEFAULT)}
    alerting: dict[str, Any] = {
        "rules_dir": str(rules_dir(s.tmp)),
        "store": s.store_target,
        "flapping_transitions": 1_000_000,  # one port closed and reopened again and again is flapping: not here
    }
    if s.store_schema:
        alerting["store_schema"] = s.store_schema
    config = {
        "data_dir": str(s.tmp / "data"),
        "log_level": "WARNING",
        "http": {"host": LOOPBACK, "port": http_port},
        "agents": [{"host": h, "token_sha256": hash_token(t)} for h, t in s.tokens.items()],
        "snmp": {"enabled": True, "inventory_file": str(inventory), "trap_port": s.trap_port},
        "alerting": alerting,
        "rosters": {"path": str(roster)},
        "notify": {"channels": [{"kind": "webhook"}]},
    }
    path = s.tmp / "collector.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


async def start_collector(s: Setup) -> None:
    http_port = free_port()
    config = collector_config(s, http_port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    cmd = [sys.executable, "-m", "collector.cli", "collector", "run", "--config", str(config)]
    proc = s.procs.start("collector", cmd, env=env)
    s.collector_url = f"http://{LOOPBACK}:{http_port}"
    await wait_http_ok(f"{s.collector_url}/readyz", proc, "the collector", s.procs, "collector")


async def start_agent(s: Setup, host: str, interval: float | None, *, prompt_reports: bool = True) -> None:
    config: dict[str, Any] = {
        "host": host,
        "prompt_reports": prompt_reports,
        "collectors": [s.collector_url],
        "token": s.tokens[host],
        "labels": {"site": "bench", "system": "HIS", "role": "app"},
        "spool": {"dir": str(s.tmp / f"spool-{host}")},
        "timeouts": {"check_seconds": 1},
        "checks": {"ports": [{"name": "his-app", "target": s.port.target}], "temperatures": False},
        "log_level": "WARNING",
    }
    if interval is not None:
        config["interval_seconds"] = interval
    path = s.tmp / f"agent-{host}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    s.procs.start(f"agent-{host}", [sys.executable, "-m", "agent", "--config", str(path)], env=env)


@dataclass
class PromStack:
    name: str
    prom_url: str
    am_url: str
    groups: int


async def start_prometheus_stack(
    s: Setup, name: str, *, scrape: str, evaluation: str, route: dict[str, Any], groups: int
) -> PromStack:
    """Prometheus + Alertmanager. The same alerting rule in ``groups`` rule groups of different names: Prometheus
    evaluates each group at its own offset within the interval (a hash of its name), so each crossing is seen at
    several evaluation phases relative to the scrape, as across deployments; every group's alert is its own
    Alertmanager group (``rule_group`` label) and its own notification."""
    prom_bin, am_bin = shutil.which("prometheus"), shutil.which("prometheus-alertmanager")
    if not prom_bin or not am_bin:
        raise SystemExit(
            "Debian's prometheus and prometheus-alertmanager are needed (make bench installs them)"
        )
    folder = s.tmp / name
    folder.mkdir()
    am_port, prom_port = free_port(), free_port()
    am_cfg = folder / "alertmanager.yml"
    am_cfg.write_text(
        yaml.safe_dump(
            {
                "route": {"receiver": "bench", **route},
                "receivers": [
                    {
                        "name": "bench",
                        "webhook_configs": [{"url": f"{s.hook_base}/{name}", "send_resolved": False}],
                    }
                ],
            }
        )
    )
    rules = folder / "rules.yml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": f"bench-{name}-{k}",
                        "rules": [
                            {
                                "alert": "PortDown",
                                "expr": "bench_port_up == 0",
                                "for": "0s",
                                "labels": {"severity": "major", "rule_group": str(k)},
                                "annotations": {
                                    "summary": "{{ $labels.target }} does not accept connections"
                                },
                            }
                        ],
                    }
                    for k in range(groups)
                ]
            }
        )
    )
    prom_cfg = folder / "prometheus.yml"
    prom_cfg.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": scrape, "evaluation_interval": evaluation},
                "rule_files": [str(rules)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{am_port}"]}]}]},
                "scrape_configs": [
                    {"job_name": f"bench-{name}", "static_configs": [{"targets": [s.exporter_target]}]}
                ],
            }
        )
    )
    am = s.procs.start(
        f"alertmanager-{name}",
        [
            am_bin,
            f"--config.file={am_cfg}",
            f"--storage.path={folder / 'am-data'}",
            f"--web.listen-address={LOOPBACK}:{am_port}",
            "--cluster.listen-address=",
        ],
    )
    prom = s.procs.start(
        f"prometheus-{name}",
        [
            prom_bin,
            f"--config.file={prom_cfg}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address={LOOPBACK}:{prom_port}",
        ],
    )
    stack = PromStack(name, f"http://{LOOPBACK}:{prom_port}", f"http://{LOOPBACK}:{am_port}", groups)
    await wait_http_ok(f"{stack.am_url}/-/ready", am, "Alertmanager", s.procs, f"alertmanager-{name}")
    await wait_http_ok(f"{stack.prom_url}/-/ready", prom, "Prometheus", s.procs, f"prometheus-{name}")
    # Prometheus has no Alertmanager to send to until its discovery ran (reference: peers-on-this-machine.md)
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{stack.prom_url}/api/v1/alertmanagers") as resp:
                if (await resp.json())["data"]["activeAlertmanagers"]:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"Prometheus found no Alertmanager:\n{s.procs.log_tail(f'prometheus-{name}')}"
                )
            await asyncio.sleep(0.2)
    return stack


def _rfc3339(text: str) -> float:
    """Prometheus' timestamps (nanoseconds, any offset) as Unix seconds."""
    m = re.fullmatch(r"(.*?\.\d{1,6})\d*(Z|[+-]\d\d:\d\d)", text)
    if m:
        text = m.group(1) + m.group(2)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def phases(stack: PromStack, interval: float) -> dict[int, float]:
    """Each evaluated rule group's offset after the exporter's scrape, in seconds, by group number."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{stack.prom_url}/api/v1/targets") as resp:
            targets = (await resp.json())["data"]["activeTargets"]
        async with session.get(f"{stack.prom_url}/api/v1/rules") as resp:
            groups = (await resp.json())["data"]["groups"]
    never = "0001-01-01"  # Prometheus' zero time: not scraped / evaluated yet
    if not targets or targets[0]["lastScrape"].startswith(never):
        return {}
    scraped = _rfc3339(targets[0]["lastScrape"])
    return {
        int(g["name"].rsplit("-", 1)[1]): (_rfc3339(g["lastEvaluation"]) - scraped) % interval
        for g in groups
        if not g["lastEvaluation"].startswith(never)
    }


async def spread_phases(stack: PromStack, interval: float, wanted: int) -> list[int]:
    """``wanted`` of the stack's rule groups whose evaluation offsets after the scrape are nearest to
    (i + 1/2) / wanted of the interval: hashed names bunch up, and where they fall decides Prometheus' figure
    (an evaluation just after the scrape adds nothing, one just before it adds a whole interval), so the groups
    measured are spread evenly over the interval, as over many deployments."""
    deadline = time.monotonic() + 3 * interval + 30
    while len(offsets := await phases(stack, interval)) < stack.groups:
        if time.monotonic() > deadline:
            raise SystemExit(f"Prometheus evaluated {len(offsets)} of {stack.groups} rule groups")
        await asyncio.sleep(min(1.0, interval / 4))
    chosen: list[int] = []
    for i in range(wanted):
        target = (i + 0.5) * interval / wanted

        def distance(k: int, target: float = target) -> float:
            d = abs(offsets[k] - target)
            return min(d, interval - d)

        chosen.append(min((k for k in offsets if k not in chosen), key=distance))
    return chosen


def stop_prometheus_stack(s: Setup, stack: PromStack) -> None:
    s.procs.stop(f"prometheus-{stack.name}")
    s.procs.stop(f"alertmanager-{stack.name}")


# -- (a) trap -> page -------------------------------------------------------------------------------------------


def record_traps(indexes: list[int]) -> list[bytes]:
    """Real v2c linkDown datagrams from ``snmptrap`` (one per ifIndex), caught on a local socket."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        for i in indexes:
            subprocess.run(
                ["snmptrap", "-v2c", "-c", COMMUNITY, f"{LOOPBACK}:{port}", "", LINK_DOWN,
                 f"{IF_INDEX}.{i}", "i", str(i), f"{IF_ADMIN}.{i}", "i", "1", f"{IF_OPER}.{i}", "i", "2"],
                check=True, capture_output=True, timeout=10,
            )  # fmt: skip
            out.append(sock.recv(65535))
    return out


def page_for(path: str, pred: Callable[[dict[str, Any]], bool]) -> Predicate:
    return lambda p, body: p == path and pred(body)


async def trap_samples(s: Setup, samples: int, time_limit: float) -> tuple[list[float], int]:
    indexes = [100_001 + i for i in range(samples)]  # unique numbers: the page names its ifIndex in the title
    t = time.perf_counter()
    datagrams = record_traps(indexes)
    print(
        f"(a) recorded {len(datagrams)} linkDown traps with snmptrap in {time.perf_counter() - t:.1f} s",
        flush=True,
    )
    latencies: list[float] = []
    missed = 0
    deadline = time.monotonic() + time_limit
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for index, datagram in zip(indexes, datagrams, strict=True):
            if time.monotonic() > deadline:
                print(f"(a) time limit reached after {len(latencies)} samples")
                break
            title = re.compile(rf"\b{index}\b")
            fut = s.receiver.expect(
                page_for(
                    "wardwatch",
                    lambda b, t=title: b["kind"] == "page" and bool(t.search(b["incident"]["title"])),
                )
            )
            started = time.perf_counter()
            sender.sendto(datagram, (LOOPBACK, s.trap_port))
            try:
                arrived = await asyncio.wait_for(fut, timeout=10)
            except TimeoutError:
                fut.cancel()
                missed += 1
                if missed >= 3:
                    tail = s.procs.log_tail("collector")
                    raise SystemExit(
                        f"(a) 3 traps paged nobody within 10 s; collector log:\n{tail}"
                    ) from None
                continue
            latencies.append(arrived - started)
            # let the outbox finish with this page (marked delivered) before the next trap
            await asyncio.sleep(0.1)
    finally:
        sender.close()
        s.receiver.forget()
    return latencies, missed


# -- (b) crossing -> page, side by side -------------------------------------------------------------------------


async def open_incidents_of(store: IncidentStore, hosts: set[str]) -> int:
    incidents = await store.list(status=[Status.OPEN, Status.ACKNOWLEDGED], limit=1000)
    return sum(1 for i in incidents if i.labels.get("host") in hosts)


async def settle(s: Setup, store: IncidentStore, hosts: set[str], timeout: float) -> None:
    """Wait until wardwatch resolved the hosts' port incidents (the port is open again). The collector is another
    process: poll its store (bounded)."""
    deadline = time.monotonic() + timeout
    while await open_incidents_of(store, hosts):
        if time.monotonic() > deadline:
            raise SystemExit(f"wardwatch did not resolve the port incident within {timeout:.0f} s")
        await asyncio.sleep(0.05)


@dataclass
class Pipeline:
    name: str
    pred: Callable[[int], Predicate]  # trial -> predicate for its page
    latencies: list[float] = field(default_factory=list)
    missed: int = 0


def wardwatch_pipeline(name: str, host: str) -> Pipeline:
    # PortDown's summary is "{host}: {target} ({check}) does not accept connections"
    return Pipeline(
        name,
        lambda _trial: page_for(
            "wardwatch", lambda b: b["kind"] == "page" and b["incident"]["title"].startswith(f"{host}:")
        ),
    )


def alertmanager_pipelines(stack: PromStack, groups: list[int]) -> list[Pipeline]:
    def pipeline(k: int) -> Pipeline:
        def pred(trial: int) -> Predicate:
            return page_for(
                stack.name,
                lambda b: any(
                    a["status"] == "firing"
                    and a["labels"].get("trial") == str(trial)
                    and a["labels"].get("rule_group") == str(k)
                    for a in b.get("alerts", [])
                ),
            )

        return Pipeline(f"prometheus+am[{k}]", pred)

    return [pipeline(k) for k in groups]


async def crossings(
    s: Setup,
    store: IncidentStore,
    pipelines: list[Pipeline],
    hosts: set[str],
    *,
    samples: int,
    time_limit: float,
    jitter: float,
    per_sample_timeout: float,
    label: str,
) -> None:
    deadline = time.monotonic() + time_limit
    rng = random.Random(20261129)
    for n in range(samples):
        if time.monotonic() > deadline:
            print(f"{label} time limit reached after {n} crossings")
            break
        await settle(s, store, hosts, timeout=per_sample_timeout)
        await asyncio.sleep(rng.uniform(0, jitter))  # a random phase of every periodic thing downstream
        futures = [s.receiver.expect(p.pred(s.port.trial)) for p in pipelines]
        crossed = time.perf_counter()
        s.port.close()
        done, _ = await asyncio.wait(futures, timeout=per_sample_timeout)
        for p, fut in zip(pipelines, futures, strict=True):
            if fut in done:
                p.latencies.append(fut.result() - crossed)
            else:
                p.missed += 1
        s.receiver.forget()
        got = {
            p.name: (fut.result() - crossed) * 1000
            for p, fut in zip(pipelines, futures, strict=True)
            if fut in done
        }
        ours = [p.name for p in pipelines if p.name.startswith("wardwatch")]
        ww = "  ".join(f"{k} {got[k]:.0f} ms" if k in got else f"{k} MISSED" for k in ours)
        pa = [v for k, v in got.items() if k not in ours]
        pa_text = f"{min(pa):.0f}..{max(pa):.0f} ms" if pa else "MISSED"
        print(
            f"{label} {n + 1}/{samples}: {ww}  prometheus+am {pa_text} "
            f"({len(pa)} of {len(pipelines) - len(ours)} rule groups)",
            flush=True,
        )
        if any(p.missed >= 3 for p in pipelines):
            raise SystemExit(
                f"{label}: 3 crossings without a page: {[(p.name, p.missed) for p in pipelines]}"
            )
        s.port.trial += 1
        await s.port.open()


# -- the run ----------------------------------------------------------------------------------------------------


def debian_defaults() -> tuple[str, str, dict[str, Any]]:
    """Scrape and evaluation intervals from Debian's prometheus.yml, the route timers from its alertmanager.yml
    (Prometheus' own default is 1m for both intervals; Alertmanager's are the values below)."""
    scrape = evaluation = "1m"
    route: dict[str, Any] = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
    with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
        g = yaml.safe_load(Path("/etc/prometheus/prometheus.yml").read_text()).get("global", {})
        scrape, evaluation = g.get("scrape_interval", scrape), g.get("evaluation_interval", evaluation)
    with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
        r = yaml.safe_load(Path("/etc/prometheus/alertmanager.yml").read_text()).get("route", {})
        route |= {k: r[k] for k in ("group_wait", "group_interval", "repeat_interval") if k in r}
    # every crossing its own group, as in (b): Debian's sample groups by alertname, so every crossing after the
    # first would join a group that already notified and wait group_interval (5m) on top
    return scrape, evaluation, {**route, "group_by": ["..."]}


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration.strip())
    if not m:
        raise ValueError(duration)
    return float(m.group(1)) * units[m.group(2)]


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM (as SIGINT already does) cancels the run, so the finally below stops every process started here
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    procs = Processes(tmp)
    atexit.register(procs.stop_all)  # and should anything escape that: at interpreter exit
    receiver = Receiver()
    port = Port()
    await port.open()
    web_port = free_port()
    runner = web.AppRunner(receiver_app(receiver, port), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, web_port).start()
    schema = f"bench_pages_{uuid.uuid4().hex[:8]}" if args.store else None
    s = Setup(
        tmp=tmp,
        procs=procs,
        receiver=receiver,
        port=port,
        hook_base=f"http://{LOOPBACK}:{web_port}/hook",
        exporter_target=f"{LOOPBACK}:{web_port}",
        store_target=args.store or str(tmp / "data" / "wardwatch.db"),
        store_schema=schema,
    )
    results: dict[str, Any] = {"engine": "PostgreSQL" if args.store else "SQLite"}
    store: IncidentStore | None = None
    try:
        await start_collector(s)
        store = await open_store(s.store_target, schema=schema)
        if "a" in args.parts:
            results["trap"], results["trap_missed"] = await trap_samples(s, args.traps, args.time_limit)
            print(f"(a) trap -> page: {summary(results['trap'])}", flush=True)
        if "b" in args.parts:
            await start_agent(s, FAST, 1.0)
            await start_agent(s, SAMPLED, 1.0, prompt_reports=False)
            stack = await start_prometheus_stack(
                s,
                "fast",
                scrape="1s",
                evaluation="1s",
                route={
                    "group_by": ["..."],
                    "group_wait": "0s",
                    "group_interval": "1m",
                    "repeat_interval": "1h",
                },
                groups=4 * args.rule_groups,
            )
            chosen = await spread_phases(stack, 1.0, args.rule_groups)
            pipelines = [
                wardwatch_pipeline("wardwatch", FAST),
                wardwatch_pipeline("wardwatch-sampled", SAMPLED),
                *alertmanager_pipelines(stack, chosen),
            ]
            await asyncio.sleep(3)  # the agents' first reports, a few scrapes of the open port
            await crossings(
                s, store, pipelines, {FAST, SAMPLED},
                samples=args.crossings, time_limit=args.time_limit, jitter=1.0, per_sample_timeout=30, label="(b)",
            )  # fmt: skip
            results["crossing"] = pipelines
            offsets = await phases(stack, 1.0)
            results["crossing_phases"] = sorted(offsets[k] for k in chosen)
            stop_prometheus_stack(s, stack)
            procs.stop(f"agent-{FAST}")
            procs.stop(f"agent-{SAMPLED}")
        if "defaults" in args.parts:
            scrape, evaluation, route = debian_defaults()
            interval = float(AgentSettings.model_fields["interval_seconds"].default)
            await start_agent(s, DEFAULT, None)
            stack = await start_prometheus_stack(
                s, "defaults", scrape=scrape, evaluation=evaluation, route=route, groups=4 * args.rule_groups
            )
            chosen = await spread_phases(stack, seconds(evaluation), args.rule_groups)
            print(
                f"(defaults) Prometheus scrape {scrape}, evaluation {evaluation}; Alertmanager {route}; "
                f"wardwatch agent every {interval:g} s",
                flush=True,
            )
            pipelines = [wardwatch_pipeline("wardwatch", DEFAULT), *alertmanager_pipelines(stack, chosen)]
            jitter = max(interval, seconds(scrape), seconds(evaluation))
            budget = jitter + seconds(scrape) + seconds(evaluation) + seconds(route["group_wait"]) + 30
            await asyncio.sleep(interval + 2)
            await crossings(
                s, store, pipelines, {DEFAULT},
                samples=args.defaults_samples, time_limit=args.defaults_time_limit, jitter=jitter,
                per_sample_timeout=budget, label="(defaults)",
            )  # fmt: skip
            results["defaults"] = pipelines
            offsets = await phases(stack, seconds(evaluation))
            results["defaults_phases"] = sorted(offsets[k] for k in chosen)
            results["defaults_config"] = (scrape, evaluation, route, interval)
    finally:
        receiver.forget()
        procs.stop_all()
        if store is not None:
            await store.close()
        await runner.cleanup()
        if port.server is not None:
            port.close()
        if schema and args.store:
            conn = await asyncpg.connect(args.store)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> int:
    print(f"\nstore: {results['engine']}; latency to the page's arrival at the webhook receiver")
    ok = True
    if "trap" in results:
        xs = results["trap"]
        print(
            f"(a) linkDown trap -> page:  {summary(xs)}  missed {results['trap_missed']}  (goal p99 < 50 ms)"
        )
        ok &= bool(xs) and pct(xs, 0.99) < 50
    titles = {
        "crossing": "(b) port closed -> page, agent/scrape/evaluation every 1 s, group_wait 0s",
        "defaults": "(defaults) port closed -> page, out-of-the-box settings",
    }
    for key, title in titles.items():
        if key not in results:
            continue
        print(title)
        ours = [p for p in results[key] if p.name.startswith("wardwatch")]
        groups = [p for p in results[key] if not p.name.startswith("wardwatch")]
        ww = ours[0].latencies
        pa = [x for g in groups for x in g.latencies]
        for p in ours:
            print(f"  {p.name:<18} {summary(p.latencies)}  missed {p.missed}")
        print(
            f"  {'prometheus+am':<18} {summary(pa)}  missed {sum(g.missed for g in groups)}  ({len(groups)} rule groups)"
        )
        per_group = sorted(
            (pct(g.latencies, 0.99), pct(g.latencies, 0.5), g.name) for g in groups if g.latencies
        )
        if per_group:
            print(
                f"    per rule group: p99 from {per_group[0][0]:.0f} to {per_group[-1][0]:.0f} ms, "
                f"p50 from {min(x[1] for x in per_group):.0f} to {max(x[1] for x in per_group):.0f} ms"
            )
        if results.get(f"{key}_phases"):
            offsets = ", ".join(f"{o:.2f}" for o in results[f"{key}_phases"])
            print(f"    rule groups' evaluation offsets after the scrape (s): {offsets}")
        for p in ours[1:]:
            if p.latencies and pa:
                r50, r99 = pct(p.latencies, 0.5) / pct(pa, 0.5), pct(p.latencies, 0.99) / pct(pa, 0.99)
                print(f"  {p.name} / prometheus+am: p50 {r50:.2f}, p99 {r99:.2f}  (for the record)")
        if ww and pa:
            r50, r99 = pct(ww, 0.5) / pct(pa, 0.5), pct(ww, 0.99) / pct(pa, 0.99)
            print(f"  wardwatch / prometheus+am: p50 {r50:.2f}, p99 {r99:.2f}")
            if key == "crossing":
                print("  (goal: wardwatch's p99 at most half of Prometheus + Alertmanager's: ratio <= 0.50)")
                ok &= r99 <= 0.5
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.page_latency")
    parser.add_argument("--traps", type=int, default=200, help="(a) samples")
    parser.add_argument("--crossings", type=int, default=60, help="(b) samples")
    parser.add_argument("--time-limit", type=float, default=300, help="seconds per part, (a) and (b)")
    parser.add_argument("--defaults", action="store_true", help="also the out-of-the-box settings (slow)")
    parser.add_argument("--parts", default="a,b", help="which parts: a (trap), b (crossing), defaults")
    parser.add_argument("--defaults-samples", type=int, default=5)
    parser.add_argument(
        "--rule-groups",
        type=int,
        default=10,
        help="Prometheus evaluation phases measured (of 4x as many groups)",
    )
    parser.add_argument("--defaults-time-limit", type=float, default=600)
    parser.add_argument("--store", help="PostgreSQL DSN (default: SQLite); a throwaway schema, dropped")
    args = parser.parse_args()
    args.parts = set(args.parts.split(",")) | ({"defaults"} if args.defaults else set())
    if not args.parts or args.parts - {"a", "b", "defaults"}:
        parser.error("--parts: a comma-separated list of a, b, defaults")
    if shutil.which("snmptrap") is None and "a" in args.parts:
        raise SystemExit("snmptrap is needed (Debian's snmp package; make bench installs it)")

    with tempfile.TemporaryDirectory(prefix="ww-bench-pages-") as tmp:
        try:
            results = asyncio.run(run(args, Path(tmp)))
        except asyncio.CancelledError:  # SIGTERM: every process was stopped on the way out
            print("terminated", file=sys.stderr)
            return 143
    return report(results, args)


if __name__ == "__main__":
    sys.exit(main())
