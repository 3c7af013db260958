"""Contract: what the real agent measures on this machine, the real collector accepts.

The agent package never imports the collector; this test does, to catch drift between the two sides of
``agent/wire.py`` (values the collector rejects, headers it does not understand) with a real report.
"""

from pathlib import Path

import aiohttp
import pytest

from agent.collect import ReportBuilder
from agent.sender import Outcome
from tests.agent.conftest import TOKEN

create_app = pytest.importorskip("collector.app").create_app
collector_settings = pytest.importorskip("collector.settings")
CollectorRegistry = pytest.importorskip("prometheus_client").CollectorRegistry


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
    ok = harness(make_settings(collectors=[url]))
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
