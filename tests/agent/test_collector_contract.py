"""Contract: what the real agent measures on this machine, the real collector accepts.

The agent package never imports the collector; this test does, to catch drift between the two sides of
``agent/wire.py`` (values the collector rejects, headers it does not understand) with a real report.
"""

import base64
import json
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.collect import ReportBuilder
from agent.sender import Outcome
from tests.agent.conftest import TOKEN

create_app = pytest.importorskip("collector.app").create_app
collector_settings = pytest.importorskip("collector.settings")
CollectorRegistry = pytest.importorskip("prometheus_client").CollectorRegistry


def collector_app(tmp_path: Path, *, token: str = TOKEN, **over: Any) -> web.Application:
    """The real collector, knowing his-db-01 by the SHA-256 of ``token``."""
    settings = collector_settings.CollectorSettings.model_validate(
        {
            "data_dir": tmp_path / "collector",
            "agents": [{"host": "his-db-01", "token_sha256": collector_settings.hash_token(token)}],
            "alerting": {"enabled": False},
            **over,
        }
    )
    return create_app(settings, registry=CollectorRegistry())


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as resp:
            return await resp.text()


def samples(metrics: str, name: str, *parts: str) -> list[tuple[str, float]]:
    """``(line, value)`` of every sample of ``name`` whose line holds each of ``parts``."""
    return [
        (line, float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith(name + "{") and all(p in line for p in parts)
    ]


def base_url(server: Any) -> str:
    return str(server.make_url("")).rstrip("/")


async def test_the_collector_accepts_real_reports_and_refuses_a_wrong_token(
    aiohttp_server, make_settings, harness, tmp_path: Path
) -> None:
    settings = collector_settings.CollectorSettings.model_validate(
        {
            "data_dir": tmp_path / "collector",
            "agents": [{"host": "his-db-01", "token_sha256": collector_settings.hash_token(TOKEN)}],
            "alerting": {"enabled": False},
        }
    )
    server = await aiohttp_server(create_app(settings, registry=CollectorRegistry()))
    url = str(server.make_url("")).rstrip("/")
    builder = ReportBuilder(make_settings(labels={"site": "north", "system": "HIS"}))
    try:
        first, second = await builder.collect(), await builder.collect()
    finally:
        await builder.close()
    ok = harness(make_settings(collectors=[url]), clock=time.time)  # the agent's clock, as the reports'
    assert await ok.sender.deliver(first) is Outcome.SENT
    assert await ok.sender.deliver(second) is Outcome.SENT
    wrong = harness(make_settings(collectors=[url], token="wrong-token", spool={"dir": tmp_path / "s2"}))
    assert await wrong.sender.deliver(first) is Outcome.REJECTED
    assert wrong.spooled() == []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as resp:
            metrics = await resp.text()
    up = [
        line
        for line in metrics.splitlines()
        if line.startswith("wardwatch_agent_up{") and "his-db-01" in line
    ]
    assert len(up) == 1 and float(up[0].rsplit(" ", 1)[1]) == 1.0, up


async def test_an_http_check_with_credentials_reaches_metrics_without_them(
    aiohttp_server, make_settings, harness, tmp_path: Path, caplog
) -> None:
    """docs/agent.md: user:password@ in a check's URL is Basic authentication; it must never be reported."""
    basic = "Basic " + base64.b64encode(b"monitor:Pa55w0rd-x9").decode()

    async def health(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != basic or request.query.get("access_token") != "t0k3n-77":
            return web.Response(status=401)
        return web.Response(text="ok")

    site = web.Application()
    site.router.add_get("/health", health)
    emr = await aiohttp_server(site)
    check_url = f"http://monitor:Pa55w0rd-x9@127.0.0.1:{emr.port}/health?ward=5&access_token=t0k3n-77"
    server = await aiohttp_server(collector_app(tmp_path))
    settings = make_settings(
        collectors=[base_url(server)], checks={"http": [{"name": "emr", "url": check_url}]}
    )
    builder = ReportBuilder(settings)
    h = harness(settings, clock=time.time)
    with caplog.at_level(logging.DEBUG):
        try:
            report = await builder.collect()
        finally:
            await builder.close()
        assert await h.sender.deliver(report) is Outcome.SENT
    (check,) = report["http"]
    shown = f"http://127.0.0.1:{emr.port}/health?ward=5&access_token=REDACTED"
    assert check["url"] == shown and check["up"] is True  # the credentials were used, not reported
    metrics = await scrape(base_url(server))
    (up,) = samples(metrics, "wardwatch_http_up", 'check="emr"')
    assert f'url="{shown}"' in up[0] and up[1] == 1.0
    # (aiohttp.access: the checked site's own request log, which of course has its query)
    logged = [r for r in caplog.records if r.name != "aiohttp.access"]
    assert any(r.name.startswith("agent") for r in logged)
    for secret in ("Pa55w0rd-x9", "t0k3n-77", "monitor:"):
        assert secret not in json.dumps(report)
        assert secret not in metrics
        assert not [r for r in logged if secret in r.getMessage()]
