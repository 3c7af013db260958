"""Signed single-use expiring links: the signer alone, then GET/POST against a real SQLite store."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from aiohttp import web

from alerting.clock import FakeClock
from alerting.model import Status
from alerting.notify import link_api
from alerting.notify.links import LinkError, LinkSigner, _b64, _unb64
from tests.alerting.notify.storefix import open_incident

SECRET = "link-signing-secret-0123456789"


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(SECRET, base_url="https://oncall.hosp/", ttl_seconds=3600)


def test_a_genuine_link_verifies_to_its_claims(signer, clock):
    token = signer.sign("inc-1", "zhangsan", "ack", now=clock.now())
    claims = signer.verify(token, now=clock.now() + timedelta(minutes=59))
    assert (claims.incident_id, claims.person_id, claims.action) == ("inc-1", "zhangsan", "ack")
    assert signer.url(token) == f"https://oncall.hosp/links/{token}"


def test_links_are_unique_even_for_the_same_page(signer, clock):
    a = signer.sign("inc-1", "zhangsan", "ack", now=clock.now())
    b = signer.sign("inc-1", "zhangsan", "ack", now=clock.now())
    assert a != b


def test_an_expired_link_is_refused(signer, clock):
    token = signer.sign("inc-1", "zhangsan", "ack", now=clock.now())
    with pytest.raises(LinkError) as info:
        signer.verify(token, now=clock.now() + timedelta(hours=1))
    assert info.value.reason == "expired"


@pytest.mark.parametrize("field", ["p", "a", "e", "i", "n"])
def test_changing_any_claim_breaks_the_signature(signer, clock, field):
    token = signer.sign("inc-1", "zhangsan", "ack", now=clock.now())
    body, mac = token.split(".")
    claims = json.loads(_unb64(body))
    claims[field] = {"p": "lisi", "a": "resolve", "e": claims["e"] + 86400, "i": "inc-2", "n": "x"}[field]
    forged = _b64(json.dumps(claims, separators=(",", ":")).encode()) + "." + mac
    with pytest.raises(LinkError) as info:
        signer.verify(forged, now=clock.now())
    assert info.value.reason == "tampered"


def test_a_link_signed_with_another_secret_is_refused(signer, clock):
    other = LinkSigner("another-secret-0123456789", base_url="https://x", ttl_seconds=3600)
    with pytest.raises(LinkError, match="signature"):
        signer.verify(other.sign("inc-1", "zhangsan", "ack", now=clock.now()), now=clock.now())


@pytest.mark.parametrize("token", ["", "abc", "abc.", ".abc", "!!!.???"])
def test_garbage_is_refused(signer, clock, token):
    with pytest.raises(LinkError):
        signer.verify(token, now=clock.now())


@pytest.fixture
async def client(aiohttp_client, store, signer, clock):
    app = web.Application()
    app[link_api.LINKS] = link_api.LinkContext(clock=clock, signer=signer, store=store)
    link_api.setup_routes(app)
    return await aiohttp_client(app)


def _path(signer: LinkSigner, token: str) -> str:
    return signer.url(token).removeprefix(signer.base_url)


async def test_get_confirms_without_acting_and_post_acknowledges_as_that_person_once(
    client, store, signer, clock
):
    incident = await open_incident(store, clock.now())
    path = _path(signer, signer.sign(incident.id, "zhangsan", "ack", now=clock.now()))

    page = await client.get(path)
    assert page.status == 200 and page.content_type == "text/html"
    text = await page.text()
    assert incident.number in text and "<form method='post'>" in text and "zhangsan" in text
    assert (await store.get(incident.id)).status is Status.OPEN  # a preview never acts

    clock.advance(30)
    done = await client.post(path)
    assert done.status == 200
    acked = await store.get(incident.id)
    assert acked.status is Status.ACKNOWLEDGED
    assert acked.acknowledged_by == "zhangsan"
    assert acked.acknowledged_at == clock.now()
    [entry] = [e for e in await store.audit_log() if e.action == "incident.acknowledge"]
    assert entry.actor == "zhangsan" and entry.target == incident.number
    [used] = [e for e in await store.audit_log() if e.action == "link.used"]
    assert used.actor == "zhangsan" and used.details["link_action"] == "ack"
    assert (await store.verify_audit_chain()).ok

    again = await client.post(path)
    assert again.status == 410
    assert "already used" in await again.text()
    assert (await client.get(path)).status == 410
    assert len([e for e in await store.audit_log() if e.action == "incident.acknowledge"]) == 1


async def test_resolve_link_resolves_and_is_attributed(client, store, signer, clock):
    incident = await open_incident(store, clock.now())
    resp = await client.post(_path(signer, signer.sign(incident.id, "lisi", "resolve", now=clock.now())))
    assert resp.status == 200
    resolved = await store.get(incident.id)
    assert resolved.status is Status.RESOLVED and resolved.resolved_by == "lisi"


async def test_an_expired_link_gets_a_clear_page_and_changes_nothing(client, store, signer, clock):
    incident = await open_incident(store, clock.now())
    path = _path(signer, signer.sign(incident.id, "zhangsan", "ack", now=clock.now()))
    clock.advance(timedelta(hours=1, seconds=1))
    for method in (client.get, client.post):
        resp = await method(path)
        assert resp.status == 410
        assert "expired" in await resp.text()
    assert (await store.get(incident.id)).status is Status.OPEN


async def test_a_tampered_link_is_refused_and_changes_nothing(client, store, signer, clock):
    incident = await open_incident(store, clock.now())
    token = signer.sign(incident.id, "zhangsan", "ack", now=clock.now())
    body, mac = token.split(".")
    claims = json.loads(_unb64(body))
    claims["p"] = "mallory"
    forged = _b64(json.dumps(claims, separators=(",", ":")).encode()) + "." + mac
    resp = await client.post(_path(signer, forged))
    assert resp.status == 403
    assert "altered" in await resp.text()
    assert (await store.get(incident.id)).status is Status.OPEN
    assert [e.action for e in await store.audit_log() if e.action != "incident.open"] == []


async def test_acknowledging_a_resolved_incident_says_so(client, store, signer, clock):
    incident = await open_incident(store, clock.now())
    await store.resolve(incident.id, "system", clock.now())
    resp = await client.post(_path(signer, signer.sign(incident.id, "zhangsan", "ack", now=clock.now())))
    assert resp.status == 409
    assert "resolved" in await resp.text()


async def test_links_of_a_page_are_independent(client, store, signer, clock: FakeClock):
    incident = await open_incident(store, clock.now())
    ack = _path(signer, signer.sign(incident.id, "zhangsan", "ack", now=clock.now()))
    resolve = _path(signer, signer.sign(incident.id, "zhangsan", "resolve", now=clock.now()))
    assert (await client.post(ack)).status == 200
    assert (await client.post(resolve)).status == 200
    assert (await store.get(incident.id)).status is Status.RESOLVED


async def test_two_simultaneous_posts_of_one_link_act_once(client, store, signer, clock):
    incident = await open_incident(store, clock.now())
    path = _path(signer, signer.sign(incident.id, "zhangsan", "ack", now=clock.now()))
    first, second = await asyncio.gather(client.post(path), client.post(path))
    assert sorted([first.status, second.status]) == [200, 410]
    assert len([e for e in await store.audit_log() if e.action == "link.used"]) == 1
