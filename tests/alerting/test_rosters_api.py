"""The roster routes on the real collector app factory, over loopback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
from prometheus_client import CollectorRegistry

from alerting.clock import FakeClock
from alerting.roster_api import feed_token
from collector import keys
from collector.app import create_app
from collector.settings import CollectorSettings, hash_token

REPO = Path(__file__).resolve().parents[2]
API_TOKEN = "roster-admin-token"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
async def client(aiohttp_client, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO)  # the default roster is ./rosters
    settings = CollectorSettings.model_validate({"api_token_sha256": hash_token(API_TOKEN)})
    app = create_app(
        settings,
        clock=FakeClock(NOW),
        registry=CollectorRegistry(),
        components=("collector.errors", "alerting.roster_api"),
    )
    return await aiohttp_client(app)


async def test_who_answers_with_the_people_on_duty(client) -> None:
    resp = await client.get("/api/v1/rosters/who", params={"team": "systems"}, headers=BEARER)
    assert resp.status == 200
    body = await resp.json()
    assert body["at"] == "2026-12-02T02:00:00+00:00"
    assert body["layers"] == [
        {"team": "systems", "layer": "primary", "people": [{"id": "li-na", "name": "李娜"}]},
        {"team": "systems", "layer": "backup", "people": [{"id": "sun-li", "name": "孙丽"}]},
    ]


async def test_who_needs_the_api_token(client) -> None:
    resp = await client.get("/api/v1/rosters/who")
    assert resp.status == 401
    assert (await resp.json())["error"].startswith("missing bearer token")
    resp = await client.get("/api/v1/rosters/who", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = await client.get("/api/v1/rosters/who", params={"at": "yesterday"}, headers=BEARER)
    assert resp.status == 400
    assert await resp.json() == {"error": "at: not an ISO 8601 time"}


async def test_a_phone_subscribes_to_the_link_it_was_given(client) -> None:
    links = await (await client.get("/api/v1/rosters/ical-links", headers=BEARER)).json()
    url = links["people"]["li-na"]
    assert url.endswith(
        f"/api/v1/rosters/ical/person/li-na.ics?token={feed_token(hash_token(API_TOKEN), 'person', 'li-na')}"
    )
    resp = await client.get(url[url.index("/api/") :])
    assert resp.status == 200
    assert resp.content_type == "text/calendar"
    cal = icalendar.Calendar.from_ical(await resp.read())
    starts = [ev.decoded("dtstart") for ev in cal.walk("VEVENT")]
    assert datetime(2026, 12, 2, 0, 0, tzinfo=UTC) in starts  # today's day shift, 08:00 Shanghai
    assert all("李娜" in str(ev["summary"]) for ev in cal.walk("VEVENT"))


async def test_a_feed_token_opens_only_its_own_feed(client) -> None:
    token = feed_token(hash_token(API_TOKEN), "person", "li-na")
    resp = await client.get("/api/v1/rosters/ical/person/zhang-wei.ics", params={"token": token})
    assert resp.status == 404
    resp = await client.get("/api/v1/rosters/ical/team/systems.ics", params={"token": token})
    assert resp.status == 404
    team = feed_token(hash_token(API_TOKEN), "team", "systems")
    assert (await client.get("/api/v1/rosters/ical/team/systems.ics", params={"token": team})).status == 200


async def test_without_an_api_token_configured_the_routes_refuse(aiohttp_client, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    app = create_app(
        CollectorSettings.model_validate({}),
        clock=FakeClock(NOW),
        registry=CollectorRegistry(),
        components=("collector.errors", "alerting.roster_api"),
    )
    client = await aiohttp_client(app)
    for path in ("/api/v1/rosters/who", "/api/v1/rosters/ical/team/systems.ics?token=x"):
        resp = await client.get(path, headers=BEARER)
        assert resp.status == 403
        assert await resp.json() == {"error": "no API token is configured (api_token_sha256)"}


async def test_the_wall_display_metric_names_who_is_on_duty(client) -> None:
    registry = client.app[keys.REGISTRY]
    on = {"team": "systems", "layer": "primary", "person": "li-na"}
    assert registry.get_sample_value("wardwatch_oncall_info", on) == 1.0
    assert registry.get_sample_value("wardwatch_oncall_info", {**on, "person": "zhang-wei"}) is None
    client.app[keys.CLOCK].advance(12 * 3600)  # 22:00 Shanghai: the night shift
    night = {
        "team": "systems",
        "layer": "primary",
        "person": "chen-jie",
    }  # day 331 of the night rotation: 331 % 3 = 1
    assert registry.get_sample_value("wardwatch_oncall_info", night) == 1.0
    assert registry.get_sample_value("wardwatch_oncall_info", on) is None
