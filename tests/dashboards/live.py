"""A running collector fed with real data, and a real Prometheus scraping it with our recording rules.

- the collector app from ``collector.app.create_app`` with every component (plus the roster component,
  so ``wardwatch_oncall_info`` is exposed), served on loopback in a thread with its own event loop;
- the real agent (``python -m agent --once``) sending real reports of this machine, with process, port,
  HTTP and file checks (one port and one HTTP check fail on purpose: hosts in trouble, a rule fires);
- the report factory (``tests/collector/conftest.py``) for what this machine has not got: temperature
  sensors, swap, an HTTPS certificate, a filesystem that fills up between reports;
- the real SNMP poller polling the example inventory's devices (deploy/examples/inventory.yaml: switches,
  a storage array, a UPS) simulated by snmpsim (``collector.snmp.simulator``), and one that never answers;
- a rule (no ``for:``) that fires on the failed port check and opens a real incident in the store, and two
  pages about it through the real outbox: one delivered to a loopback WeCom robot, one failing (SMS only,
  no SMS channel), besides the escalation loop's own pages;
- a second incident opened, acknowledged and resolved through the events API (as a monitoring tool would),
  after Prometheus has scraped the incident counters at 0: opened/resolved counts, MTTA and MTTR;
- Debian's Prometheus scraping it every second with ``deploy/prometheus/rules/*.yml``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from alerting.component import ALERTING
from alerting.model import Status
from alerting.notify.component import NOTIFY
from alerting.notify.pages import enqueue, incident_info, request_for
from alerting.roster_api import current_roster
from collector import keys
from collector.app import COMPONENTS, create_app
from collector.catalog import MetricType
from collector.settings import CollectorSettings, hash_token
from collector.snmp.simulator import start_simulator
from tests.collector.conftest import report_dict
from tests.dashboards.expressions import REPO, RULES_DIR
from tests.support.prometheus import Prometheus, free_port

T = TypeVar("T")
AGENT_HOST = "ward-app-01"  # the real agent
FACTORY_HOST = "his-db-01"  # the report factory
TOKENS = {AGENT_HOST: "token-for-the-real-agent-0123456789", FACTORY_HOST: "token-for-the-factory-0123456789"}
INTAKE_TOKEN = "token-for-the-monitoring-tool-0123456789"
EXAMPLE_INVENTORY = REPO / "deploy" / "examples" / "inventory.yaml"

RULES = """
rules:
  - name: PortDown
    select: {kind: agent}
    condition: {type: threshold, metric: wardwatch_port_up, op: "==", value: 0}
    severity: major
    category: system_failure
    summary: "{host}: {target} ({check}) does not accept connections"
"""


def _closed_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveCollector:
    """The collector app served on 127.0.0.1 from a background thread."""

    def __init__(
        self,
        settings: CollectorSettings,
        components: tuple[str, ...],
        *,
        extra_setup: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._app = create_app(
            settings, clock=SystemClock(), registry=CollectorRegistry(), components=components
        )
        if extra_setup is not None:
            extra_setup(self._app)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-collector", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as err:  # reported to the test thread by start()
            self._error = err
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(self._app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise AssertionError(f"the collector did not start: {self._error!r}")

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def post_report(self, body: dict, host: str) -> None:
        req = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.url}/api/v1/reports",
            data=gzip.compress(json.dumps(body).encode()),
            headers={
                "Authorization": f"Bearer {TOKENS[host]}",
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            assert resp.status == 200, resp.read()

    def post_event(self, body: dict) -> dict:
        """``POST /api/v1/events`` (the PagerDuty-style events API) with the intake token."""
        req = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.url}/api/v1/events",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            assert resp.status == 202, resp.read()
            return json.load(resp)

    def call(self, make: Callable[[web.Application], Awaitable[T]], *, timeout: float = 30) -> T:
        """Run ``make(app)`` on the collector's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(make(self._app), self._loop).result(timeout)

    def declared_names(self) -> set[str]:
        """Every metric name the running collector's modules declare: the catalog (agent metrics, SNMP
        profiles) as exposed, and every family and sample name on /metrics (prometheus-client objects)."""
        catalog = self._app[keys.CATALOG]
        names = set()
        for name in catalog.names():
            info = catalog.get(name)
            names.add(f"{name}_info" if info is not None and info.type is MetricType.INFO else name)
        for line in self.metrics_text().splitlines():
            if line.startswith("# TYPE "):
                names.add(line.split()[2])
            elif line and not line.startswith("#"):
                names.add(line.split("{", 1)[0].split(" ", 1)[0])
        return names

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as resp:  # noqa: S310
            return resp.read().decode()


class WecomRobot:
    """A loopback stand-in for the WeCom group robot API: checks the key and the message, answers errcode 0."""

    KEY = "robot-key-for-the-duty-group"

    def __init__(self) -> None:
        self.received: list[dict] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ok = self.path == f"/cgi-bin/webhook/send?key={WecomRobot.KEY}" and body.get("msgtype") in (
                    "markdown",
                    "text",
                )
                if ok:
                    robot.received.append(body)
                answer = (
                    {"errcode": 0, "errmsg": "ok"}
                    if ok
                    else {"errcode": 93000, "errmsg": "invalid webhook url"}
                )
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/cgi-bin/webhook/send"
        self._thread = threading.Thread(target=self._server.serve_forever, name="wecom-robot", daemon=True)

    def __enter__(self) -> WecomRobot:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def collector_settings(tmp: Path, *, snmp_port: int, wecom_url: str) -> CollectorSettings:
    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    (rules_dir / "ports.yaml").write_text(RULES)
    # The example inventory's simulated devices (snmpsim), polled every second, plus one that never answers.
    inventory = yaml.safe_load(EXAMPLE_INVENTORY.read_text())
    for device in inventory["devices"]:
        device.update(port=snmp_port, interval_seconds=1)
    inventory["devices"].append(
        {
            "name": "ward3-acc-sw09",
            "address": "127.0.0.1",
            "port": _closed_port(socket.SOCK_DGRAM),
            "community": "public",
            "profiles": ["system", "interfaces"],
            "interval_seconds": 1,
            "timeout_seconds": 0.3,
            "retries": 0,
            "labels": {"site": "main-campus", "system": "network", "role": "access-switch"},
        }
    )
    inventory_file = tmp / "inventory.yaml"
    inventory_file.write_text(yaml.safe_dump(inventory))
    return CollectorSettings.model_validate(
        {
            "data_dir": str(tmp / "data"),
            "agents": [{"host": h, "token_sha256": hash_token(t)} for h, t in TOKENS.items()],
            "alerting": {
                "rules_dir": str(rules_dir),
                "evaluation_interval_seconds": 0.5,
                "intake_tokens": [{"name": "monitoring", "token_sha256": hash_token(INTAKE_TOKEN)}],
            },
            "snmp": {"enabled": True, "inventory_file": str(inventory_file), "traps_enabled": False},
            "notify": {"channels": [{"kind": "wecom", "key": WecomRobot.KEY, "base_url": wecom_url}]},
            "rosters": {"path": str(REPO / "rosters")},
        }
    )


def run_real_agent(tmp: Path, collector: LiveCollector) -> None:
    """One cycle of the real agent, sending to the collector (``python -m agent --once``)."""
    backups = tmp / "backups"
    backups.mkdir(exist_ok=True)
    (backups / "his-2026-11-28.dump").write_bytes(b"x" * 4096)
    config = tmp / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "host": AGENT_HOST,
                "labels": {"site": "main", "system": "EMR", "role": "app"},
                "collectors": [collector.url],
                "interval_seconds": 15,
                "spool": {"dir": str(tmp / "spool")},
                "checks": {
                    "processes": [{"name": "test-runner", "cmdline_regex": "pytest"}],
                    "ports": [
                        {"name": "collector", "target": f"127.0.0.1:{collector.port}"},
                        {"name": "his-listener", "target": f"127.0.0.1:{_closed_port()}"},
                    ],
                    "http": [
                        {"name": "collector-health", "url": f"{collector.url}/healthz"},
                        {"name": "emr-web", "url": f"http://127.0.0.1:{_closed_port()}/"},
                    ],
                    "files": [{"name": "his-backup", "glob": str(backups / "*.dump")}],
                },
            }
        )
    )
    env = {**os.environ, "WARDWATCH_AGENT_TOKEN": TOKENS[AGENT_HOST]}
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(config), "--once"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def factory_report(seq: int, *, free_bytes: int) -> dict:
    """A database server with what this test machine lacks: sensors, swap, an HTTPS check, a filling disk."""
    now = time.time()
    body = report_dict(FACTORY_HOST, timestamp=now, seq=seq)
    body["agent"]["labels"] = {"site": "main", "system": "HIS", "role": "db"}
    body["system"]["memory"].update(swap_total_bytes=4 << 30, swap_used_bytes=1 << 30)
    size = 1000 << 30
    body["filesystems"] = [
        {
            "mountpoint": "/data",
            "device": "/dev/sdb1",
            "fstype": "xfs",
            "size_bytes": size,
            "free_bytes": free_bytes,
            "used_bytes": size - free_bytes,
            "inodes_total": 1_000_000,
            "inodes_free": 600_000,
        }
    ]
    body["disks"] = [
        {
            "device": "sdb",
            "read_bytes_total": 1e9 + seq * 1e6,
            "written_bytes_total": 2e9 + seq * 1e6,
            "reads_total": 1000 + seq,
            "writes_total": 2000 + seq,
            "io_time_seconds_total": 10.0 + seq,
        }
    ]
    body["http"] = [
        {
            "name": "his-portal",
            "url": "https://his.hospital.example/",
            "up": True,
            "status_code": 200,
            "duration_seconds": 0.12,
            "tls_cert_expiry_seconds": now + 20 * 86400,
        }
    ]
    body["temperatures"] = [
        {
            "sensor": "coretemp",
            "label": "Package id 0",
            "celsius": 55.0,
            "high_celsius": 80.0,
            "critical_celsius": 95.0,
        }
    ]
    return body


async def page_about_the_newest_incident(app: web.Application) -> None:
    """Besides the escalation loop's own pages: page two known people about the open incident through the
    real outbox, so both results exist whoever is on duty now. li-na's first contact is WeCom (delivered by
    the robot); he-ping has only SMS, for which no channel is configured here (the page fails)."""
    store = app[ALERTING].store
    assert store is not None
    incident, *_ = await store.list(status=Status.OPEN, limit=1)
    roster = current_roster(app)
    now = app[keys.CLOCK].now()
    requests = [
        request_for(
            roster.people[pid],
            f"{incident.id}/test-page/{pid}",
            "page",
            incident_info(incident),
            reason="level 1",
            language="zh",
        )
        for pid in ("li-na", "he-ping")
    ]
    await enqueue(store, requests, now=now)
    worker = app[NOTIFY].worker
    assert worker is not None
    worker.wake()


def incident_life_cycle(collector: LiveCollector, prom: Prometheus) -> None:
    """A critical incident opened, acknowledged and resolved through the events API, once Prometheus has
    scraped the incident counters at 0 (so it sees them increase): opened/resolved, MTTA and MTTR."""
    prom.wait_for('wardwatch_incident_acknowledge_seconds_count{severity="critical"} == 0')
    trigger = {
        "event_action": "trigger",
        "dedup_key": "pacs-archive-unreachable",
        "payload": {
            "summary": "PACS archive unreachable from the imaging network",
            "source": "pacs-arc-01",
            "severity": "critical",
            "class": "network_outage",
        },
    }
    opened = collector.post_event(trigger)["incident"]
    for action in ("acknowledge", "resolve"):
        done = collector.post_event({"event_action": action, "dedup_key": "pacs-archive-unreachable"})
        assert done["incident"] == opened, done


@contextmanager
def prometheus_with_rules(tmp: Path, target: str) -> Iterator[Prometheus]:
    """Debian's Prometheus scraping ``target`` every second, evaluating deploy/prometheus/rules/*.yml."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed (make test installs Debian's package)"
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted(RULES_DIR.glob("*.yml"))],
        "scrape_configs": [{"job_name": "wardwatch", "static_configs": [{"targets": [target]}]}],
    }
    cfg = tmp / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config))
    log = tmp / "prometheus.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + 30
        while True:  # an outside process: poll its readiness endpoint, bounded
            try:
                with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"Prometheus did not start; log:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def live_stack(tmp: Path) -> Iterator[tuple[LiveCollector, Prometheus]]:
    """Collector + real agent + factory reports + SNMP poller + Prometheus, fed and ready to query."""
    with start_simulator() as simulator, WecomRobot() as robot:
        settings = collector_settings(tmp, snmp_port=simulator.port, wecom_url=robot.url)
        collector = LiveCollector(settings, COMPONENTS)
        collector.start()
        try:
            yield from _feed(tmp, collector)
        finally:
            collector.stop()


def _feed(tmp: Path, collector: LiveCollector) -> Iterator[tuple[LiveCollector, Prometheus]]:
    with prometheus_with_rules(tmp, f"127.0.0.1:{collector.port}") as prom:
        run_real_agent(tmp, collector)  # twice: counters get a second value
        run_real_agent(tmp, collector)
        for seq in range(1, 4):  # the filesystem fills between scrapes: days-until-full has a slope
            free = (300 - 10 * seq) << 30
            collector.post_report(factory_report(seq, free_bytes=free), FACTORY_HOST)
            prom.wait_for(f'wardwatch_filesystem_free_bytes{{host="{FACTORY_HOST}"}} == {free}')
        prom.wait_for('wardwatch_incidents_open{severity="major", category="system_failure"} > 0')
        collector.call(page_about_the_newest_incident)
        incident_life_cycle(collector, prom)
        yield collector, prom
