"""The escalation loop inside the real collector app: an incident opened through the store reaches the duty
engineer's webhook within seconds (the store's change wakes the loop, the loop wakes the outbox; both poll only
every 30 s here), the acknowledge link stops it, and the metrics and readiness say what happened."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from alerting.component import ALERTING
from alerting.escalation_component import ESCALATION
from alerting.model import Status
from collector.app import create_app
from collector.settings import CollectorSettings
from tests.alerting.notify.storefix import open_incident

LINK_SECRET = "escalation-link-secret-0123456789"

ROSTER = """\
timezone: Asia/Shanghai
shifts:
  full: {name: 24h, start: "08:00", end: "08:00"}
people:
  - id: duty-a
    name: 值班甲
    contacts: [{kind: webhook, url: "HOOK"}]
  - id: boss
    name: 主任
    contacts: [{kind: webhook, url: "HOOK"}]
rotations:
  - {id: ops, members: [duty-a], shift: full, start: 2026-01-05, turn: 1d}
teams:
  - {id: ops, name: 运维, layers: {primary: {rotations: [ops]}}}
positions:
  it-head: {name: 信息科主任, people: [boss]}
"""

POLICIES = """\
p1_immediate: [{position: it-head}]
policies:
  - id: all
    levels:
      - {delay: 0m, targets: [{team: ops, layer: primary}]}
      - {delay: 10m, targets: [{position: it-head}]}
"""


def settings_for(tmp_path: Path, *, policies: bool = True) -> CollectorSettings:
    return CollectorSettings.model_validate(
        {
            "data_dir": str(tmp_path),
            "alerting": {"rules_dir": None},
            "rosters": {"path": str(tmp_path / "rosters"), "escalation_interval_seconds": 30},
            "notify": {
                "public_base_url": "http://oncall.hosp/",
                "link_secret": LINK_SECRET,
                "channels": [{"kind": "webhook"}],
                "outbox": {"poll_interval_seconds": 30},
            },
        }
    )


def write_roster(tmp_path: Path, hook: str, *, policies: bool = True) -> None:
    folder = tmp_path / "rosters"
    folder.mkdir()
    (folder / "roster.yaml").write_text(ROSTER.replace("HOOK", hook), encoding="utf-8")
    if policies:
        (folder / "escalation.yaml").write_text(POLICIES, encoding="utf-8")


async def test_an_opened_incident_pages_the_duty_engineer_at_once_and_the_link_stops_it(
    aiohttp_client, aiohttp_server, tmp_path: Path
) -> None:
    arrived: asyncio.Queue[dict] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await arrived.put(json.loads(await request.read()))
        return web.Response(text="ok")

    hook_app = web.Application()
    hook_app.router.add_post("/hook", receive)
    hook = await aiohttp_server(hook_app)
    write_roster(tmp_path, str(hook.make_url("/hook")))
    clock = SystemClock()
    client = await aiohttp_client(
        create_app(settings_for(tmp_path), clock=clock, registry=CollectorRegistry())
    )
    app = client.server.app
    store = app[ALERTING].store
    assert store is not None

    incident = await open_incident(store, clock.now())  # critical: P1, the IT head is paged at once too
    bodies = [await asyncio.wait_for(arrived.get(), timeout=10) for _ in range(2)]  # far sooner than 30 s

    assert {b["person"]["id"] for b in bodies} == {"duty-a", "boss"}
    assert all(b["kind"] == "page" and b["incident"]["number"] == incident.number for b in bodies)
    body = next(b for b in bodies if b["person"]["id"] == "duty-a")
    path = body["links"]["acknowledge"].removeprefix("http://oncall.hosp")
    assert (await client.post(path)).status == 200
    acked = await store.get(incident.id)
    assert (acked.status, acked.acknowledged_by, acked.escalation_level) == (Status.ACKNOWLEDGED, "duty-a", 1)

    metrics = await (await client.get("/metrics")).text()
    assert 'wardwatch_escalations_total{level="1"} 1.0' in metrics
    assert 'wardwatch_oncall_info{layer="primary",person="duty-a",team="ops"} 1.0' in metrics
    assert (await client.get("/readyz")).status == 200
    loop = app[ESCALATION].loop
    assert loop is not None
    later = await loop.tick(clock.now())  # nothing more is due for an acknowledged incident
    assert (later.pages, later.escalated) == (0, 0)
    assert arrived.empty()


async def test_without_escalation_policies_the_collector_says_it_is_not_ready(
    aiohttp_client, tmp_path: Path
) -> None:
    write_roster(tmp_path, "http://127.0.0.1:9/hook", policies=False)
    client = await aiohttp_client(
        create_app(settings_for(tmp_path), clock=SystemClock(), registry=CollectorRegistry())
    )
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert "no escalation policies" in await resp.text()
