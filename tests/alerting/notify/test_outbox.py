"""The outbox worker against a real SQLite store and real receivers on loopback; time moves by ``now=``."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from alerting.clock import FakeClock
from alerting.escalation import NotifyStakeholders, Page
from alerting.model import Incident, OutboxStatus, TimelineKind
from alerting.notify.links import LinkSigner
from alerting.notify.outbox import OutboxWorker
from alerting.notify.pages import enqueue, requests_from_actions
from alerting.notify.settings import OutboxPolicy
from alerting.notify.sms import SmsConfig, SmsNotifier
from alerting.notify.webhook import WebhookConfig, WebhookNotifier
from alerting.roster_config import Person
from alerting.store import IncidentStore
from tests.alerting.notify.storefix import open_incident

LINK_SECRET = "link-signing-secret-0123456789"
POLICY = OutboxPolicy(
    attempts_per_method=3, backoff_initial_seconds=10, backoff_factor=2, backoff_max_seconds=300
)


class Receiver:
    """Answers with the scripted statuses in turn (then 200) and keeps what it got."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[Any] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok" if status == 200 else "scripted failure")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


async def serve(aiohttp_server: Any, receiver: Receiver, path: str) -> Any:
    app = web.Application()
    app.router.add_post(path, receiver.handle)
    return await aiohttp_server(app)


def person(webhook_url: str) -> Person:
    return Person.model_validate(
        {
            "id": "zhangsan",
            "name": "张三",
            "contacts": [{"kind": "webhook", "url": webhook_url}, {"kind": "sms", "phone": "+8613800001111"}],
        }
    )


def worker(store, session, clock, registry, sms_url: str, worker_id: str = "w1") -> OutboxWorker:
    notifiers = {
        "webhook": WebhookNotifier(
            WebhookConfig(secret=SecretStr("hook-secret-123456")), session=session, clock=clock
        ),
        "sms": SmsNotifier(
            SmsConfig(url=SecretStr(sms_url), body='{"to": "$phone", "text": "$text"}'),
            session=session,
            clock=clock,
        ),
    }
    links = LinkSigner(LINK_SECRET, base_url="https://oncall.hosp", ttl_seconds=86400)
    return OutboxWorker(
        store, notifiers, clock=clock, policy=POLICY, registry=registry, links=links, worker_id=worker_id
    )


def page_for(incident: Incident, who: Person, level: int = 1) -> Page:
    return Page(
        incident.id,
        level,
        0,
        who,
        "P1 system_failure: level 1 of default",
        f"{incident.id}/L{level}/R0/{who.id}",
    )


async def page(store: IncidentStore, incident: Incident, who: Person, now: datetime) -> None:
    reqs = requests_from_actions([page_for(incident, who)], {incident.id: incident})
    await enqueue(store, reqs, now=now)


def metric(registry: CollectorRegistry, channel: str, result: str) -> float:
    return (
        registry.get_sample_value("wardwatch_notifications_total", {"channel": channel, "result": result})
        or 0.0
    )


def pages(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
    """``wardwatch_pages_total`` as {(person, channel, result): count}."""
    return {
        (s.labels["person"], s.labels["channel"], s.labels["result"]): s.value
        for family in registry.collect()
        if family.name == "wardwatch_pages"
        for s in family.samples
        if s.name == "wardwatch_pages_total"
    }


async def test_retries_503_then_connection_refused_with_backoff_then_fails_over(
    aiohttp_server, store, clock: FakeClock, registry
):
    hook = Receiver([503])
    hook_server = await serve(aiohttp_server, hook, "/hook")
    gateway = Receiver()
    gw_server = await serve(aiohttp_server, gateway, "/sms")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    async with aiohttp.ClientSession() as session:
        w = worker(store, session, clock, registry, str(gw_server.make_url("/sms")))
        await page(store, incident, person(str(hook_server.make_url("/hook"))), t0)

        assert await w.run_once(now=t0) == 1  # 503: retry in 10 s
        [item] = await store.outbox(incident_id=incident.id)
        assert item.status is OutboxStatus.PENDING and item.due_at == t0 + timedelta(seconds=10)
        assert "HTTP 503" in (item.last_error or "")

        await hook_server.close()  # from now on: connection refused
        assert await w.run_once(now=t0 + timedelta(seconds=9)) == 0  # not due yet
        assert await w.run_once(now=t0 + timedelta(seconds=10)) == 1  # refused: retry in 20 s
        [item] = await store.outbox(incident_id=incident.id)
        assert item.due_at == t0 + timedelta(seconds=30)
        assert await w.run_once(now=t0 + timedelta(seconds=29)) == 0

        t3 = t0 + timedelta(seconds=30)
        assert await w.run_once(now=t3) == 1  # third try through the webhook fails: fail over to SMS
        first, second = await store.outbox(incident_id=incident.id)
        assert first.status is OutboxStatus.DEAD and "failing over to sms" in (first.last_error or "")
        assert (
            second.channel == "sms"
            and second.status is OutboxStatus.PENDING
            and second.target == "zhangsan/sms"
        )
        assert await w.run_once(now=t3) == 1
        assert (await store.outbox(incident_id=incident.id))[1].status is OutboxStatus.DELIVERED

    assert len(hook.received) == 1  # the second and third tries never reached a server
    [sms] = gateway.received
    assert sms["to"] == "+8613800001111" and "https://oncall.hosp/links/" in sms["text"]
    timeline = [
        (e.kind, e.details.get("target"), e.details.get("attempt")) for e in await store.timeline(incident.id)
    ]
    assert [t for t in timeline if t[0] in (TimelineKind.NOTIFIED, TimelineKind.NOTIFY_FAILED)] == [
        (TimelineKind.NOTIFY_FAILED, "zhangsan/webhook", 1),
        (TimelineKind.NOTIFY_FAILED, "zhangsan/webhook", 2),
        (TimelineKind.NOTIFY_FAILED, "zhangsan/webhook", 3),
        (TimelineKind.NOTIFIED, "zhangsan/sms", 1),
    ]
    assert metric(registry, "webhook", "retry") == 2
    assert metric(registry, "webhook", "failover") == 1
    assert metric(registry, "sms", "delivered") == 1
    # the same tries per person, by the roster id (never the phone number or the URL)
    assert pages(registry) == {
        ("zhangsan", "webhook", "retry"): 2,
        ("zhangsan", "webhook", "failover"): 1,
        ("zhangsan", "sms", "delivered"): 1,
    }


async def test_a_400_is_not_retried_and_fails_over_at_once(aiohttp_server, store, clock, registry):
    hook = Receiver([400, 400, 400])
    hook_server = await serve(aiohttp_server, hook, "/hook")
    gateway = Receiver()
    gw_server = await serve(aiohttp_server, gateway, "/sms")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    async with aiohttp.ClientSession() as session:
        w = worker(store, session, clock, registry, str(gw_server.make_url("/sms")))
        await page(store, incident, person(str(hook_server.make_url("/hook"))), t0)
        assert await w.run_once(now=t0) == 1
        assert await w.run_once(now=t0) == 1  # the SMS item, due at once
        for minutes in (1, 10, 60):
            assert await w.run_once(now=t0 + timedelta(minutes=minutes)) == 0
    assert len(hook.received) == 1
    assert len(gateway.received) == 1
    first, _ = await store.outbox(incident_id=incident.id)
    assert first.attempts == 1 and "permanent error" in (first.last_error or "")
    assert metric(registry, "webhook", "retry") == 0 and metric(registry, "webhook", "failover") == 1


async def test_when_every_method_fails_the_page_is_dead_and_counted(aiohttp_server, store, clock, registry):
    hook = Receiver([404])
    hook_server = await serve(aiohttp_server, hook, "/hook")
    gateway = Receiver([401])
    gw_server = await serve(aiohttp_server, gateway, "/sms")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    async with aiohttp.ClientSession() as session:
        w = worker(store, session, clock, registry, str(gw_server.make_url("/sms")))
        await page(store, incident, person(str(hook_server.make_url("/hook"))), t0)
        assert await w.run_once(now=t0) == 1
        assert await w.run_once(now=t0) == 1
        assert await w.run_once(now=t0 + timedelta(hours=1)) == 0
    items = await store.outbox(incident_id=incident.id)
    assert [i.status for i in items] == [OutboxStatus.DEAD, OutboxStatus.DEAD]
    assert "no contact method left for zhangsan" in (items[1].last_error or "")
    assert metric(registry, "sms", "failed") == 1


async def test_a_restart_never_pages_twice(aiohttp_server, store, clock, registry):
    hook = Receiver()
    hook_server = await serve(aiohttp_server, hook, "/hook")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    who = person(str(hook_server.make_url("/hook")))
    async with aiohttp.ClientSession() as session:
        w1 = worker(store, session, clock, registry, "http://127.0.0.1:9/sms")
        await page(store, incident, who, t0)
        await page(
            store, incident, who, t0 + timedelta(seconds=1)
        )  # the engine planned it again after a crash
        assert await w1.run_once(now=t0) == 1
        # a new process (new worker, new registry) finds nothing left to send
        w2 = worker(store, session, clock, CollectorRegistry(), "http://127.0.0.1:9/sms", worker_id="w2")
        await page(store, incident, who, t0 + timedelta(minutes=5))
        for minutes in (0, 5, 60):
            assert await w2.run_once(now=t0 + timedelta(minutes=minutes)) == 0
    assert len(hook.received) == 1
    assert len(await store.outbox(incident_id=incident.id)) == 1


async def test_a_worker_that_died_holding_a_page_is_taken_over_after_the_lease(
    aiohttp_server, store, clock, registry
):
    hook = Receiver()
    hook_server = await serve(aiohttp_server, hook, "/hook")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    async with aiohttp.ClientSession() as session:
        await page(store, incident, person(str(hook_server.make_url("/hook"))), t0)
        [claimed] = await store.claim_due("dead-worker", now=t0, lease_seconds=POLICY.lease_seconds)
        w = worker(store, session, clock, registry, "http://127.0.0.1:9/sms")
        assert claimed.claimed_by == "dead-worker"
        assert await w.run_once(now=t0 + timedelta(seconds=30)) == 0  # still leased to the dead worker
        assert await w.run_once(now=t0 + timedelta(seconds=POLICY.lease_seconds)) == 1
    assert len(hook.received) == 1
    [item] = await store.outbox(incident_id=incident.id)
    assert item.status is OutboxStatus.DELIVERED and item.claimed_by == "w1"


async def test_a_page_for_an_acknowledged_incident_is_not_sent(aiohttp_server, store, clock, registry):
    hook = Receiver([503])
    hook_server = await serve(aiohttp_server, hook, "/hook")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    async with aiohttp.ClientSession() as session:
        w = worker(store, session, clock, registry, "http://127.0.0.1:9/sms")
        await page(store, incident, person(str(hook_server.make_url("/hook"))), t0)
        assert await w.run_once(now=t0) == 1  # 503
        await store.acknowledge(incident.id, "lisi", t0 + timedelta(seconds=5))
        assert await w.run_once(now=t0 + timedelta(seconds=10)) == 1
    assert len(hook.received) == 1
    [item] = await store.outbox(incident_id=incident.id)
    assert item.status is OutboxStatus.DEAD and "no longer open" in (item.last_error or "")
    assert metric(registry, "webhook", "cancelled") == 1
    assert pages(registry) == {("zhangsan", "webhook", "retry"): 1, ("zhangsan", "webhook", "cancelled"): 1}


async def test_the_page_carries_working_per_person_links(aiohttp_server, store, clock, registry):
    hook = Receiver()
    hook_server = await serve(aiohttp_server, hook, "/hook")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    async with aiohttp.ClientSession() as session:
        w = worker(store, session, clock, registry, "http://127.0.0.1:9/sms")
        await page(store, incident, person(str(hook_server.make_url("/hook"))), t0)
        await w.run_once(now=t0)
    [body] = hook.received
    signer = LinkSigner(LINK_SECRET, base_url="https://oncall.hosp", ttl_seconds=86400)
    for action in ("acknowledge", "resolve"):
        token = body["links"][action].removeprefix("https://oncall.hosp/links/")
        claims = signer.verify(token, now=t0)
        assert (claims.incident_id, claims.person_id) == (incident.id, "zhangsan")
        assert claims.action == ("ack" if action == "acknowledge" else "resolve")
    assert body["incident"]["site"] == "总院" and body["incident"]["system"] == "HIS"
    assert body["incident"]["severity"] == "P1"


async def test_no_channel_for_a_contact_kind_fails_over(aiohttp_server, store, clock, registry):
    gateway = Receiver()
    gw_server = await serve(aiohttp_server, gateway, "/sms")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    who = Person.model_validate(
        {
            "id": "wangwu",
            "name": "王五",
            "contacts": [{"kind": "wecom", "user_id": "wangwu"}, {"kind": "sms", "phone": "13900000000"}],
        }
    )
    async with aiohttp.ClientSession() as session:
        w = worker(store, session, clock, registry, str(gw_server.make_url("/sms")))
        await page(store, incident, who, t0)
        await w.run_once(now=t0)
        await w.run_once(now=t0)
    first, second = await store.outbox(incident_id=incident.id)
    assert "no wecom channel is configured" in (first.last_error or "")
    assert second.status is OutboxStatus.DELIVERED and gateway.received[0]["to"] == "13900000000"


async def test_no_secret_reaches_the_timeline_the_outbox_or_the_log(
    aiohttp_server, store, clock, registry, caplog
):
    path_token, query_token = "pathT0ken9a8b7c6d", "queryT0ken1f2e3d4c"

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=503, text=f"busy: {request.path_qs}")

    app = web.Application()
    app.router.add_post(f"/in/{path_token}", echo)
    server = await aiohttp_server(app)
    t0 = clock.now()
    incident = await open_incident(store, t0)
    url = str(server.make_url(f"/in/{path_token}")) + f"?token={query_token}"
    who = Person.model_validate(
        {"id": "zhangsan", "name": "张三", "contacts": [{"kind": "webhook", "url": url}]}
    )
    async with aiohttp.ClientSession() as session:
        w = worker(store, session, clock, registry, "http://127.0.0.1:9/sms")
        await page(store, incident, who, t0)
        for seconds in (0, 10, 30):
            await w.run_once(now=t0 + timedelta(seconds=seconds))
    [item] = await store.outbox(incident_id=incident.id)
    assert item.status is OutboxStatus.DEAD and "HTTP 503" in (item.last_error or "")
    recorded = json.dumps([e.details for e in await store.timeline(incident.id)], ensure_ascii=False)
    assert recorded.count("HTTP 503") == 3  # the errors are there, only redacted
    assert any(r.name == "wardwatch.notify.outbox" for r in caplog.records)
    for secret in (path_token, query_token, "hook-secret-123456"):
        assert secret not in recorded
        assert secret not in (item.last_error or "")
        assert secret not in "\n".join(
            r.getMessage() for r in caplog.records if r.name.startswith("wardwatch")
        )


async def test_two_workers_racing_for_the_same_page_send_it_once(aiohttp_server, store, clock, registry):
    hook = Receiver()
    hook_server = await serve(aiohttp_server, hook, "/hook")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    async with aiohttp.ClientSession() as session:
        await page(store, incident, person(str(hook_server.make_url("/hook"))), t0)
        a = worker(store, session, clock, registry, "http://127.0.0.1:9/sms", worker_id="a")
        b = worker(store, session, clock, CollectorRegistry(), "http://127.0.0.1:9/sms", worker_id="b")
        handled = await asyncio.gather(a.run_once(now=t0), b.run_once(now=t0))
    assert sorted(handled) == [0, 1]
    assert len(hook.received) == 1


async def test_progress_messages_to_stakeholders_are_not_counted_as_pages(
    aiohttp_server, store, clock, registry
):
    hook = Receiver()
    hook_server = await serve(aiohttp_server, hook, "/hook")
    t0 = clock.now()
    incident = await open_incident(store, t0)
    boss = person(str(hook_server.make_url("/hook")))
    update = NotifyStakeholders(incident.id, "acknowledged", 1, (boss,), f"{incident.id}/update/ack")
    async with aiohttp.ClientSession() as session:
        w = worker(store, session, clock, registry, "http://127.0.0.1:9/sms")
        await enqueue(store, requests_from_actions([update], {incident.id: incident}), now=t0)
        await page(store, incident, boss, t0)
        assert await w.run_once(now=t0) == 2
    assert len(hook.received) == 2
    assert metric(registry, "webhook", "delivered") == 2
    assert pages(registry) == {("zhangsan", "webhook", "delivered"): 1}
