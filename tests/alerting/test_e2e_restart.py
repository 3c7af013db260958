"""SIGKILL the collector in the middle of opening and of resolving incidents: nothing lost, nothing doubled.

A real collector process (``wardwatch collector run``) with one rule; 30 agents report a full filesystem at
once and the process is killed while their reports are being evaluated. It restarts, the agents report again
(as real agents do every interval), and there must be exactly one incident per host; the same for recovery.
SQLite and PostgreSQL (``WARDWATCH_TEST_PG_DSN``, default the local server; never skipped).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from alerting.model import Status, TimelineKind
from alerting.store import IncidentStore, open_store
from collector.settings import hash_token
from tests.collector.conftest import gz, report_dict
from tests.support.prometheus import free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
HOSTS = [f"his-app-{i:02d}" for i in range(30)]
RULES = """\
rules:
  - name: FilesystemAlmostFull
    condition: {type: threshold, metric: wardwatch_filesystem_used_ratio, op: ">", value: 0.9}
    severity: major
    category: system_failure
    summary: "{host}: {mountpoint} is {value:.0%} full"
"""


def token(host: str) -> str:
    return f"agent-token-{host}-0123456789"


class Collector:
    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "collector", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while True:  # an outside process: poll until it answers, bounded
                try:
                    async with session.get(f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"collector did not start:\n{self.log.read_text()[-3000:]}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def post_reports(
    url: str, used: int, seq: int, *, kill_after: int | None = None, collector=None
) -> int:
    """Every host reports ``used``; with ``kill_after``, SIGKILL the collector once that many were accepted."""
    accepted = 0
    fs = {"mountpoint": "/data", "device": "/dev/sdb1", "fstype": "xfs", "size_bytes": 1000}

    async def one(session: aiohttp.ClientSession, host: str) -> None:
        nonlocal accepted
        body = report_dict(host, seq=seq, timestamp=time.time())
        body["filesystems"] = [{**fs, "used_bytes": used, "free_bytes": 1000 - used}]
        headers = {
            "Authorization": f"Bearer {token(host)}",
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        }
        try:
            async with session.post(f"{url}/api/v1/reports", data=gz(body), headers=headers) as resp:
                if resp.status == 200:
                    accepted += 1
                    if kill_after is not None and accepted == kill_after:
                        collector.kill()
        except aiohttp.ClientError:
            pass  # the collector was killed under it: the agent will send again

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(one(session, h) for h in HOSTS))
    return accepted


async def wait_for(store: IncidentStore, check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        incidents = await store.list(limit=1000)
        if check(incidents):
            return incidents
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {len(incidents)} incidents, {[i.status for i in incidents]}")
        await asyncio.sleep(0.2)  # the collector is another process: poll its store, bounded


async def test_sigkill_in_the_middle_loses_and_duplicates_nothing(tmp_path: Path, store_target) -> None:
    target, schema = store_target
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "fs.yaml").write_text(RULES)
    port = free_port()
    alerting: dict = {"rules_dir": str(rules_dir), "store": target, "evaluation_interval_seconds": 1}
    if schema:
        alerting["store_schema"] = schema
    config = tmp_path / "collector.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "http": {"host": "127.0.0.1", "port": port},
                "agents": [{"host": h, "token_sha256": hash_token(token(h))} for h in HOSTS],
                "alerting": alerting,
            }
        )
    )
    collector = Collector(config, port, tmp_path / "collector.log")
    await collector.start()
    store = await open_store(target, schema=schema)
    try:
        # 1. all 30 hosts fill up at once; the collector dies after accepting 12 of them
        accepted = await post_reports(collector.url, 950, 1, kill_after=12, collector=collector)
        assert accepted >= 12
        before = await store.list(limit=1000)
        assert len(before) <= accepted  # nothing opened that was not reported
        await collector.start()
        await post_reports(collector.url, 950, 2)  # the agents' next reports
        incidents = await wait_for(store, lambda xs: len(xs) >= len(HOSTS), "all hosts opened")
        await post_reports(collector.url, 950, 3)  # and the next: still firing, nothing new
        await wait_for_ticks(collector, 2)
        incidents = await store.list(limit=1000)
        assert sorted(i.labels["host"] for i in incidents) == HOSTS  # exactly one per host
        year = incidents[0].opened_at.year
        assert sorted(i.number for i in incidents) == [f"INC-{year}-{n:06d}" for n in range(1, 31)]
        assert all(i.status is Status.OPEN for i in incidents)

        # 2. all recover at once; the collector dies again in the middle
        await post_reports(collector.url, 500, 4, kill_after=15, collector=collector)
        await collector.start()
        await post_reports(collector.url, 500, 5)
        incidents = await wait_for(
            store, lambda xs: all(i.status is Status.RESOLVED for i in xs), "all resolved"
        )
        assert len(incidents) == len(HOSTS)
        for inc in incidents:
            kinds = [e.kind for e in await store.timeline(inc.id)]
            assert kinds.count(TimelineKind.FIRED) == 1 and kinds.count(TimelineKind.RESOLVED) == 1, kinds
    finally:
        collector.stop()
        await store.close()


async def ticks(collector: Collector) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{collector.url}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith('wardwatch_rule_evaluations_total{trigger="tick"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def wait_for_ticks(collector: Collector, n: int, timeout: float = 10.0) -> None:
    """Let the collector's periodic full evaluation run ``n`` more times (the chance to open a duplicate)."""
    target = await ticks(collector) + n
    deadline = time.monotonic() + timeout
    while await ticks(collector) < target:
        assert time.monotonic() < deadline, "the collector's evaluation loop does not tick"
        await asyncio.sleep(0.2)  # another process: poll its metrics, bounded
