"""Contract: what the real agent measures on this machine, the real collector accepts.

The agent package never imports the collector; this test does, to catch drift between the two sides of
``agent/wire.py`` (values the collector rejects, headers it does not understand) with a real report, and to
run the sender's answers to the real collector's: a refused token, an invalid report, a replay after an outage.
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
from tests.agent.conftest import TOKEN, ManualClock, free_port
from tests.agent.reports import make_report

create_app = pytest.importorskip("collector.app").create_app
collector_settings = pytest.importorskip("collector.settings")
CollectorRegistry = pytest.importorskip("prometheus_client").CollectorRegistry
keys = pytest.importorskip("collector.keys")
RENDERER = pytest.importorskip("collector.exposition").RENDERER
SourceKind = pytest.importorskip("collector.state").SourceKind


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


async def test_the_collector_accepts_real_reports_and_a_wrong_token_keeps_them(
    aiohttp_server, make_settings, harness, tmp_path: Path
) -> None:
    server = await aiohttp_server(collector_app(tmp_path))
    url = base_url(server)
    builder = ReportBuilder(make_settings(labels={"site": "north", "system": "HIS"}))
    try:
        first, second = await builder.collect(), await builder.collect()
    finally:
        await builder.close()
    ok = harness(make_settings(collectors=[url]), clock=time.time)  # the agent's clock, as the reports'
    assert await ok.sender.deliver(first) is Outcome.SENT
    assert await ok.sender.deliver(second) is Outcome.SENT
    wrong = harness(make_settings(collectors=[url], token="wrong-token", spool={"dir": tmp_path / "s2"}))
    assert await wrong.sender.deliver(first) is Outcome.REFUSED
    assert wrong.spooled() == [first["seq"]]  # the token is wrong, not the report: kept
    (up,) = samples(await scrape(url), "wardwatch_agent_up", 'host="his-db-01"')
    assert up[1] == 1.0, up


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


async def test_after_an_outage_metrics_show_the_fresh_report_while_the_spool_is_replayed(
    aiohttp_server, make_settings, harness, tmp_path: Path
) -> None:
    """The agent sends its fresh report first, then the spool oldest first: /metrics shows the fresh values from
    the moment they arrive, and no spooled (old) value is ever shown as current during the replay."""
    port = free_port()
    clock = ManualClock(time.time() - 2000)
    h = harness(make_settings(collectors=[f"http://127.0.0.1:{port}"], retry={"attempts": 1}), clock=clock)

    def collect(seq: int) -> dict[str, Any]:  # collected now on the agent's clock; load1 tells them apart
        report = make_report(seq, timestamp=clock() - seq)
        report["system"]["load1"] = float(seq)
        return report

    for seq in range(1, 71):  # the collector is down for 70 cycles (17.5 min, past its 15-min window)
        assert await h.sender.deliver(collect(seq)) is Outcome.FAILED
        clock.advance(15)
    assert len(h.spooled()) == 70

    app = collector_app(tmp_path)
    state, renderer = app[keys.STATE], app[RENDERER]
    shown: list[list[float]] = []  # after every report the collector kept: the load1 values /metrics shows

    def scrape_now(_source: object, _snapshot: object) -> None:
        shown.append([v for _, v in samples(renderer.render(), "wardwatch_load1", 'host="his-db-01"')])

    state.subscribe(scrape_now)
    server = await aiohttp_server(app, port=port)  # the collector is back
    assert await h.sender.deliver(collect(71)) is Outcome.SENT
    assert h.spooled() == []
    assert shown == [[71.0]] * 61  # the fresh one, then 60 late ones within the window: it stays current
    metrics = await scrape(base_url(server))
    assert [v for _, v in samples(metrics, "wardwatch_load1", 'host="his-db-01"')] == [71.0]
    assert [v for _, v in samples(metrics, "wardwatch_agent_up", 'host="his-db-01"')] == [1.0]
    outcomes = {line.split('"')[1]: v for line, v in samples(metrics, "wardwatch_collector_reports_total")}
    assert outcomes == {"latest": 1.0, "late": 60.0, "too_old": 10.0}
    src = state.get(SourceKind.AGENT, "his-db-01")
    assert [s.payload.seq for s in src.window] == [*range(11, 71), 71]  # the replay is there for rates
    assert src.latest().payload.seq == 71


async def test_a_collector_with_a_wrong_token_hash_leaves_the_spool_alone(
    aiohttp_server, make_settings, harness, tmp_path: Path, caplog
) -> None:
    """A collector restarted with a wrong hash answers 401: the agent must not empty its spool into it."""
    port = free_port()
    clock = ManualClock(time.time() - 600)
    h = harness(make_settings(collectors=[f"http://127.0.0.1:{port}"], retry={"attempts": 1}), clock=clock)
    for seq in (1, 2, 3):  # an outage: spooled
        assert await h.sender.deliver(make_report(seq, timestamp=clock() - seq)) is Outcome.FAILED
        clock.advance(15)
    wrong = await aiohttp_server(collector_app(tmp_path, token="a-token-for-another-agent"), port=port)
    with caplog.at_level(logging.DEBUG):
        assert await h.sender.deliver(make_report(4, timestamp=clock() - 4)) is Outcome.REFUSED
    assert h.spooled() == [1, 2, 3, 4]
    assert "replayed" not in caplog.text
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "refused this agent's token (HTTP 401: unknown agent token)" in error
    assert TOKEN not in caplog.text
    metrics = await scrape(base_url(wrong))
    assert (
        samples(metrics, "wardwatch_collector_reports_rejected_total", 'reason="unauthenticated"')[0][1]
        == 1.0
    )
    assert samples(metrics, "wardwatch_agent_up") == []
    await wrong.close()

    app = collector_app(tmp_path)  # restarted with the right hash
    fixed = await aiohttp_server(app, port=port)
    clock.advance(31)  # past the pause after the refusal
    assert await h.sender.deliver(make_report(5, timestamp=clock() - 5)) is Outcome.SENT
    assert h.spooled() == []
    src = app[keys.STATE].get(SourceKind.AGENT, "his-db-01")
    assert [s.payload.seq for s in src.window] == [1, 2, 3, 4, 5] and src.latest().payload.seq == 5
    assert samples(await scrape(base_url(fixed)), "wardwatch_agent_up")[0][1] == 1.0


async def test_a_replay_drops_only_the_reports_the_collector_finds_invalid_or_too_big(
    aiohttp_server, make_settings, harness, tmp_path: Path, caplog
) -> None:
    port = free_port()
    clock = ManualClock(time.time() - 600)
    h = harness(make_settings(collectors=[f"http://127.0.0.1:{port}"]), clock=clock)
    invalid = make_report(2, timestamp=clock())
    invalid["system"]["cpu"]["usage_ratio"] = 2.0  # e.g. an older agent's report this collector refuses
    too_big = make_report(3, timestamp=clock())
    too_big["filesystems"] = [
        {
            "mountpoint": f"/m{i}",
            "device": "d",
            "fstype": "xfs",
            "size_bytes": 1,
            "free_bytes": 1,
            "used_bytes": 0,
        }
        for i in range(200)
    ]
    for report in (make_report(1, timestamp=clock()), invalid, too_big, make_report(4, timestamp=clock())):
        h.sender.keep(report)  # spooled (an outage)
    app = collector_app(tmp_path, http={"max_report_bytes": 8192})
    await aiohttp_server(app, port=port)  # the collector is back
    clock.advance(60)
    with caplog.at_level(logging.INFO):
        assert await h.sender.deliver(make_report(5, timestamp=clock() - 5)) is Outcome.SENT
    assert h.spooled() == []
    src = app[keys.STATE].get(SourceKind.AGENT, "his-db-01")
    assert [s.payload.seq for s in src.window] == [1, 4, 5]
    assert "rejected report seq=2 (HTTP 400: invalid report: system.cpu.usage_ratio" in caplog.text
    assert "rejected report seq=3 (HTTP 413" in caplog.text
    assert "replayed 2 spooled report(s), dropped 2 invalid one(s); 0 left in the spool" in caplog.text
