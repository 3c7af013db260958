"""Fixtures for agent tests: settings built the real way, and fake collectors on loopback."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agent.config import AgentConfig
from agent.sender import Sender
from agent.settings import AgentSettings
from agent.settings_file import load_settings
from agent.spool import Spool
from agent.wire import Report

TOKEN = "s3cret-agent-token-4f1e9"


def runtime_config(settings: AgentSettings) -> AgentConfig:
    """What ``wardwatch-agent`` does with validated settings (there, across a pipe from a child process)."""
    return AgentConfig.from_dict(json.loads(json.dumps(settings.runtime_dict())))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., AgentConfig]:
    """Settings validated by pydantic-settings and handed to the running agent's code as ``wardwatch-agent`` does."""

    def build(**overrides: Any) -> AgentConfig:
        overrides.setdefault("host", "his-db-01")
        overrides.setdefault("token", TOKEN)
        overrides.setdefault("spool", {"dir": tmp_path / "spool"})
        return runtime_config(load_settings(AgentSettings, None, **overrides))

    return build


@dataclass
class FakeCollector:
    """Checks requests the way the collector does, and answers with a scripted status."""

    status: int = 200
    error: str = "report.system.cpu.usage_ratio: Input should be less than or equal to 1"
    token: str = TOKEN  # the one it accepts (another: a collector configured with the wrong hash)
    received: list[Report] = field(default_factory=list)
    seen_statuses: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._answer(401, "unknown agent token")
        if request.headers.get("Content-Encoding") != "gzip":
            return self._answer(400, "expected Content-Encoding: gzip")
        if request.content_type != "application/json":
            return self._answer(400, "expected Content-Type: application/json")
        raw = await request.read()  # aiohttp has already undone the gzip
        if self.status >= 300:
            return self._answer(self.status, self.error)
        self.received.append(Report.model_validate_json(raw))
        self.arrived.set()
        return self._answer(202, None)

    def _answer(self, status: int, error: str | None) -> web.Response:
        self.seen_statuses.append(status)
        return web.json_response({"error": error} if error else {"accepted": True}, status=status)


@pytest.fixture
def start_collector(aiohttp_server: Any) -> Callable[..., Any]:
    async def start(
        collector: FakeCollector | None = None, *, port: int | None = None, **kw: Any
    ) -> FakeCollector:
        collector = collector or FakeCollector()
        app = web.Application()
        app.router.add_post("/api/v1/reports", collector.handle)
        server = await aiohttp_server(app, port=port, **kw)
        collector.url = str(server.make_url("")).rstrip("/")
        collector.server = server  # type: ignore[attr-defined]
        return collector

    return start


def free_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ManualClock:
    """The agent's clock, moved by the test: ``clock()`` reads it, ``advance(s)`` moves it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def gunzip_json(data: bytes) -> bytes:
    return gzip.decompress(data)


class Harness:
    """A Sender plus what it touched: the backoff delays it asked for and a ticking clock."""

    def __init__(
        self, settings: AgentConfig, *, seed: int = 7, clock: Callable[[], float] | None = None
    ) -> None:
        self.delays: list[float] = []
        self.ticks = itertools.count(1)
        if clock is not None:  # e.g. time.time, for reports collected on the real clock
            self.clock = clock  # type: ignore[method-assign]
        self.spool = Spool(
            settings.spool.dir,
            max_bytes=settings.spool.max_bytes,
            max_age_seconds=settings.spool.max_age_seconds,
        )
        self.sender = Sender(
            settings, self.spool, clock=self.clock, sleep=self.sleep, rng=random.Random(seed)
        )

    def clock(self) -> float:
        return 1_800_000_000.0 + next(self.ticks)

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def spooled(self) -> list[int]:
        return [self.spool.load(e)["seq"] for e in self.spool.pending(now=self.clock())]


@pytest.fixture
async def harness() -> AsyncIterator[Callable[..., Harness]]:
    """Makes Harnesses (one per simulated agent process) and closes their senders' connections at the end."""
    made: list[Harness] = []

    def build(settings: AgentConfig, **kw: Any) -> Harness:
        made.append(Harness(settings, **kw))
        return made[-1]

    yield build
    for h in made:
        await h.sender.close()
