"""The notify component inside the real collector app: a page written to the store reaches a loopback webhook,
and its acknowledge link works through the app's routes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from alerting.component import ALERTING
from alerting.model import Status
from alerting.notify.component import NOTIFY
from alerting.notify.pages import enqueue, requests_from_actions
from alerting.roster_config import Person
from collector.app import create_app
from collector.settings import CollectorSettings
from tests.alerting.notify.storefix import open_incident
from tests.alerting.notify.test_outbox import page_for

LINK_SECRET = "component-link-secret-0123456789"


async def test_a_page_in_the_outbox_is_delivered_and_its_link_acknowledges(
    aiohttp_client, aiohttp_server, tmp_path: Path
):
    arrived: asyncio.Queue[dict] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await arrived.put(json.loads(await request.read()))
        return web.Response(text="ok")

    hook_app = web.Application()
    hook_app.router.add_post("/hook", receive)
    hook = await aiohttp_server(hook_app)

    settings = CollectorSettings.model_validate(
        {
            "data_dir": str(tmp_path),
            "alerting": {"rules_dir": None},
            "notify": {
                "public_base_url": "http://oncall.hosp/",
                "link_secret": LINK_SECRET,
                "channels": [{"kind": "webhook", "secret": "hook-secret-0123456789"}],
                "outbox": {"poll_interval_seconds": 30},
            },
        }
    )
    registry = CollectorRegistry()
    clock = SystemClock()
    client = await aiohttp_client(create_app(settings, clock=clock, registry=registry))
    app = client.server.app
    store = app[ALERTING].store
    incident = await open_incident(store, clock.now())
    who = Person.model_validate(
        {
            "id": "zhangsan",
            "name": "张三",
            "contacts": [{"kind": "webhook", "url": str(hook.make_url("/hook"))}],
        }
    )
    await enqueue(
        store, requests_from_actions([page_for(incident, who)], {incident.id: incident}), now=clock.now()
    )
    app[NOTIFY].worker.wake()  # no waiting for the 30 s poll

    body = await asyncio.wait_for(arrived.get(), timeout=10)
    assert body["incident"]["number"] == incident.number
    ack_url = body["links"]["acknowledge"]
    assert ack_url.startswith("http://oncall.hosp/links/")
    path = ack_url.removeprefix("http://oncall.hosp")

    page = await client.get(path)
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    done = await client.post(path)
    assert done.status == 200
    assert (await store.get(incident.id)).acknowledged_by == "zhangsan"
    again = await client.post(path)
    assert again.status == 410 and "text/html" in again.headers["Content-Type"]  # a page, not JSON
    assert (await store.get(incident.id)).status is Status.ACKNOWLEDGED
    assert (
        registry.get_sample_value(
            "wardwatch_notifications_total", {"channel": "webhook", "result": "delivered"}
        )
        == 1
    )
