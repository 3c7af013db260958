"""Real Prometheus -> real Alertmanager -> webhook into the collector, on loopback.

Prometheus scrapes the collector's /metrics (fed by a test agent report), a Prometheus alerting rule fires, the
Alertmanager posts its webhook (v4) with a bearer token to ``/api/v1/alerts/alertmanager``: one incident opens,
and resolves when the filesystem recovers. Prometheus and Alertmanager are outside processes: the test polls
them (and the store) in bounded loops.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from alerting.component import ALERTING
from alerting.model import Category, Severity, Source, Status, TimelineKind
from collector.app import create_app
from collector.settings import hash_token
from tests.collector.conftest import auth, gz, make_settings, report_dict
from tests.support.prometheus import free_port
from tests.support.timeline import life

pytestmark = pytest.mark.slow
TOKEN = "alertmanager-intake-token-0123456789"


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"{what} did not start; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextmanager
def run(cmd: list[str], log: Path, ready_url: str, what: str) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(ready_url, proc, log, what)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def prometheus_and_alertmanager(tmp: Path, collector_port: int) -> Iterator[tuple[str, str, Path]]:
    am_binary, prom_binary = shutil.which("prometheus-alertmanager"), shutil.which("prometheus")
    assert am_binary and prom_binary, "Debian's prometheus and prometheus-alertmanager are needed"
    am_port, prom_port = free_port(), free_port()
    am_cfg = tmp / "alertmanager.yml"
    am_cfg.write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "wardwatch",
                    "group_by": ["alertname"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [
                    {
                        "name": "wardwatch",
                        "webhook_configs": [
                            {
                                "url": f"http://127.0.0.1:{collector_port}/api/v1/alerts/alertmanager",
                                "send_resolved": True,
                                "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
                            }
                        ],
                    }
                ],
            }
        )
    )
    rules = tmp / "rules.yml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "his",
                        "rules": [
                            {
                                "alert": "HisDataFilesystemFull",
                                "expr": 'wardwatch_filesystem_used_ratio{mountpoint="/data"} > 0.9',
                                "labels": {"severity": "critical", "category": "data_loss"},
                                "annotations": {
                                    "summary": "{{ $labels.host }}: /data is {{ $value | humanizePercentage }} full",
                                    "runbook_url": "https://wiki.hospital.local/it/emergency-plans/data-loss",
                                },
                            }
                        ],
                    }
                ]
            }
        )
    )
    prom_cfg = tmp / "prometheus.yml"
    prom_cfg.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                "scrape_configs": [
                    {
                        "job_name": "wardwatch",
                        "static_configs": [{"targets": [f"127.0.0.1:{collector_port}"]}],
                    }
                ],
            }
        )
    )
    am_cmd = [
        am_binary,
        f"--config.file={am_cfg}",
        f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ]
    prom_cmd = [
        prom_binary,
        f"--config.file={prom_cfg}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    am_url, prom_url = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
    with (
        run(am_cmd, tmp / "alertmanager.log", f"{am_url}/-/ready", "Alertmanager"),
        run(prom_cmd, tmp / "prometheus.log", f"{prom_url}/-/ready", "Prometheus"),
    ):
        yield prom_url, am_url, tmp


def fs_report(used: int) -> bytes:
    fs = {"mountpoint": "/data", "device": "/dev/sdb1", "fstype": "xfs", "size_bytes": 1000}
    return gz(report_dict(filesystems=[{**fs, "free_bytes": 1000 - used, "used_bytes": used}]))


async def test_prometheus_alertmanager_webhook_opens_one_incident_and_resolves_it(
    aiohttp_server, aiohttp_client, tmp_path: Path
) -> None:
    settings = make_settings(
        data_dir=str(tmp_path),
        alerting={
            "rules_dir": None,
            "intake_tokens": [{"name": "alertmanager", "token_sha256": hash_token(TOKEN)}],
        },
    )
    app = create_app(settings, clock=SystemClock(), registry=CollectorRegistry())
    server = await aiohttp_server(app, host="127.0.0.1")
    client = await aiohttp_client(server)
    store = app[ALERTING].store
    assert store is not None

    async def until(used: int, done, what: str, timeout: float = 45.0):
        """Keep the agent reporting ``used`` (once a second, as a real agent would) until ``done``."""
        deadline = time.monotonic() + timeout
        while True:
            resp = await client.post("/api/v1/reports", data=fs_report(used), headers=auth())
            assert resp.status == 200
            result = await done()
            if result:
                return result
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in tmp_path.glob("*.log"))
                raise AssertionError(f"{what} did not happen within {timeout}s; logs:\n{logs}")
            await asyncio.sleep(0.5)  # an outside process: poll, bounded

    with prometheus_and_alertmanager(tmp_path, server.port):

        async def opened():
            return await store.list()

        (inc,) = await until(950, opened, "the incident")
        assert (inc.source, inc.severity, inc.category, inc.status) == (
            Source.ALERTMANAGER,
            Severity.CRITICAL,
            Category.DATA_LOSS,
            Status.OPEN,
        )
        assert inc.title == "his-db-01: /data is 95% full"
        assert inc.rule == "alertmanager:HisDataFilesystemFull" and inc.assets == ("his-db-01",)
        assert inc.labels["host"] == "his-db-01" and inc.labels["system"] == "HIS"
        assert inc.plan_url == "https://wiki.hospital.local/it/emergency-plans/data-loss"

        async def resolved():
            incidents = await store.list()
            return incidents if incidents[0].status is Status.RESOLVED else None

        incidents = await until(500, resolved, "the resolution")
        assert [i.number for i in incidents] == [inc.number]  # repeats and resolution: no second incident
        assert incidents[0].resolved_by == "alertmanager"
        kinds = life(
            await store.timeline(inc.id)
        )  # no channel is configured here: the pages fail over and fail
        assert kinds[0] is TimelineKind.FIRED and kinds[-1] is TimelineKind.RESOLVED
        assert kinds.count(TimelineKind.FIRED) == 1
        assert kinds.count(TimelineKind.ESCALATED) == 1  # level 1 paged once, at once (P1 data loss)
