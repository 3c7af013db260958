"""Intake over HTTP on the real app: Alertmanager webhook v4, the events API, manual reports; tokens; 400s."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerting.clock import FakeClock
from alerting.component import ALERTING
from alerting.model import Category, Severity, Source, Status, TimelineKind
from collector.app import create_app
from collector.settings import CollectorSettings, hash_token
from tests.alerting.test_rules import T0

TOKEN = "intake-token-for-alertmanager-s3cr3t"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

AM_MESSAGE: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}/{severity="critical"}:{alertname="InstanceDown"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "oncall",
    "groupLabels": {"alertname": "InstanceDown"},
    "commonLabels": {"alertname": "InstanceDown", "job": "his", "severity": "critical"},
    "commonAnnotations": {"summary": "HIS node down"},
    "externalURL": "http://alertmanager.example:9093",
    "notification_reason": "first notification",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "InstanceDown",
                "instance": "10.0.0.5:9100",
                "job": "his",
                "severity": "critical",
                "category": "system_failure",
            },
            "annotations": {"summary": "HIS node 10.0.0.5 down", "description": "down for 1 minute"},
            "startsAt": "2026-11-28T07:58:08.326990857Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up%3D%3D0",
            "fingerprint": "791cec13fcba0368",
        },
        {
            "status": "firing",
            "labels": {"alertname": "InstanceDown", "instance": "10.0.0.6:9100", "job": "his"},
            "annotations": {"summary": "HIS node 10.0.0.6 down"},
            "startsAt": "2026-11-28T07:58:08Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": "891cec13fcba0368",
        },
    ],
}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path, registry: CollectorRegistry):
    settings = CollectorSettings.model_validate(
        {
            "data_dir": str(tmp_path),
            "alerting": {
                "rules_dir": None,
                "intake_tokens": [{"name": "alertmanager", "token_sha256": hash_token(TOKEN)}],
            },
        }
    )
    app = create_app(settings, clock=FakeClock(T0), registry=registry)
    return await aiohttp_client(app)


def store_of(client):
    return client.server.app[ALERTING].store


async def test_alertmanager_firing_opens_one_incident_per_alert_and_a_repeat_touches_them(client) -> None:
    resp = await client.post("/api/v1/alerts/alertmanager", json=AM_MESSAGE, headers=AUTH)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert len(body["opened"]) == 2 and body["touched"] == [] and body["resolved"] == []
    resp = await client.post("/api/v1/alerts/alertmanager", json=AM_MESSAGE, headers=AUTH)  # a retry
    body = await resp.json()
    assert body["opened"] == [] and len(body["touched"]) == 2
    incidents = {i.labels["instance"]: i for i in await store_of(client).list()}
    assert len(incidents) == 2
    first = incidents["10.0.0.5:9100"]
    assert (first.severity, first.category, first.source, first.status) == (
        Severity.CRITICAL,
        Category.SYSTEM_FAILURE,
        Source.ALERTMANAGER,
        Status.OPEN,
    )
    assert first.title == "HIS node 10.0.0.5 down" and first.description == "down for 1 minute"
    assert first.assets == ("10.0.0.5",) and first.rule == "alertmanager:InstanceDown"
    second = incidents["10.0.0.6:9100"]
    assert (second.severity, second.category) == (Severity.MINOR, Category.OTHER)  # no labels: defaults


async def test_alertmanager_resolves_per_alert_not_per_group(client, registry) -> None:
    await client.post("/api/v1/alerts/alertmanager", json=AM_MESSAGE, headers=AUTH)
    # no site or system label on these alerts: empty, which Prometheus stores as no label
    labels = {"site": "", "system": "", "severity": "critical", "category": "system_failure"}
    assert registry.get_sample_value("wardwatch_incidents_open", labels) == 1
    mixed = copy.deepcopy(AM_MESSAGE)
    mixed["alerts"][0]["status"] = "resolved"  # the group is still firing: one resolved, one not
    resp = await client.post("/api/v1/alerts/alertmanager", json=mixed, headers=AUTH)
    body = await resp.json()
    assert len(body["resolved"]) == 1 and len(body["touched"]) == 1
    incidents = {i.labels["instance"]: i for i in await store_of(client).list()}
    assert incidents["10.0.0.5:9100"].status is Status.RESOLVED
    assert incidents["10.0.0.5:9100"].resolved_by == "alertmanager"
    assert incidents["10.0.0.6:9100"].status is Status.OPEN
    assert registry.get_sample_value("wardwatch_incidents_open", labels) == 0


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.update(version="3"), "version: Input should be '4'"),
        (lambda m: m["alerts"][1].update(status="pending"), "alerts[1].status: Input should be"),
        (lambda m: m["alerts"][0].pop("labels"), "alerts[0].labels: Field required"),
        (lambda m: m["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt: Input should be"),
        (lambda m: m.pop("alerts"), "alerts: Field required"),
    ],
)
async def test_bad_alertmanager_payload_is_400_naming_the_field(client, mutate, field: str) -> None:
    msg = copy.deepcopy(AM_MESSAGE)
    mutate(msg)
    resp = await client.post("/api/v1/alerts/alertmanager", json=msg, headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"].startswith(field)
    assert await store_of(client).list() == []


async def test_not_json_is_400(client) -> None:
    resp = await client.post("/api/v1/alerts/alertmanager", data=b"{nope", headers=AUTH)
    assert resp.status == 400 and (await resp.json()) == {"error": "body: not valid JSON"}


@pytest.mark.parametrize("path", ["/api/v1/alerts/alertmanager", "/api/v1/events", "/api/v1/incidents"])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token-123"}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_every_intake_needs_a_valid_bearer_token_and_never_echoes_it(
    client, path: str, headers: dict, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        resp = await client.post(path, json=AM_MESSAGE, headers=headers)
    assert resp.status == 401
    text = await resp.text()
    assert (await resp.json())["error"].startswith("Authorization: ")
    assert "wrong-token-123" not in text and TOKEN not in text
    assert "wrong-token-123" not in caplog.text and TOKEN not in caplog.text
    assert await store_of(client).list() == []


TRIGGER = {
    "routing_key": "ignored-we-use-the-bearer-token",
    "event_action": "trigger",
    "dedup_key": "his-db-01/disk",
    "payload": {
        "summary": "Disk 95% on his-db-01",
        "source": "his-db-01.hospital.local",
        "severity": "critical",
        "timestamp": "2026-11-28T07:42:58.315+0000",
        "component": "postgres",
        "group": "his",
        "class": "data_loss",
        "custom_details": {"used": "95%"},
    },
    "links": [{"href": "https://grafana/d/1", "text": "Dashboard"}],
    "client": "Monitoring",
}


async def test_events_trigger_acknowledge_resolve_by_dedup_key(client) -> None:
    resp = await client.post("/api/v1/events", json=TRIGGER, headers=AUTH)
    assert resp.status == 202
    body = await resp.json()
    assert body["status"] == "success" and body["dedup_key"] == "his-db-01/disk"
    number = body["incident"]
    again = await (await client.post("/api/v1/events", json=TRIGGER, headers=AUTH)).json()
    assert again["incident"] == number  # deduplicated
    store = store_of(client)
    inc = await store.get(number)
    assert (inc.severity, inc.category, inc.source) == (Severity.CRITICAL, Category.DATA_LOSS, Source.API)
    assert inc.labels["component"] == "postgres" and '"used": "95%"' in inc.description
    ack = {"event_action": "acknowledge", "dedup_key": "his-db-01/disk"}
    assert (await client.post("/api/v1/events", json=ack, headers=AUTH)).status == 202
    inc = await store.get(number)
    assert inc.status is Status.ACKNOWLEDGED and inc.acknowledged_by == "alertmanager"
    res = {"event_action": "resolve", "dedup_key": "his-db-01/disk"}
    assert (await (await client.post("/api/v1/events", json=res, headers=AUTH)).json())["incident"] == number
    assert (await store.get(number)).status is Status.RESOLVED
    # after resolve, a trigger with the same key opens a new incident
    new = await (await client.post("/api/v1/events", json=TRIGGER, headers=AUTH)).json()
    assert new["incident"] != number


async def test_trigger_without_dedup_key_gets_one_and_unknown_keys_are_not_errors(client) -> None:
    msg = {k: v for k, v in TRIGGER.items() if k != "dedup_key"}
    body = await (await client.post("/api/v1/events", json=msg, headers=AUTH)).json()
    assert len(body["dedup_key"]) == 32
    resp = await client.post(
        "/api/v1/events", json={"event_action": "resolve", "dedup_key": "nothing-open"}, headers=AUTH
    )
    assert resp.status == 202 and "incident" not in await resp.json()


@pytest.mark.parametrize(
    ("msg", "error"),
    [
        ({"event_action": "acknowledge"}, "dedup_key: required for acknowledge"),
        ({"event_action": "trigger"}, "payload: required for trigger"),
        ({"event_action": "snooze", "dedup_key": "x"}, "event_action: Input should be"),
        (
            {**TRIGGER, "payload": {**TRIGGER["payload"], "severity": "Critical"}},
            "payload.severity: Input should be",
        ),
        ({**TRIGGER, "payload": {**TRIGGER["payload"], "summary": ""}}, "payload.summary: String should"),
        ({**TRIGGER, "payload": {**TRIGGER["payload"], "colour": "red"}}, "payload.colour: unknown field"),
        (
            {**TRIGGER, "payload": {**TRIGGER["payload"], "timestamp": "at noon"}},
            "payload.timestamp: not an ISO 8601 time",
        ),
        ({**TRIGGER, "dedup_key": "k" * 256}, "dedup_key: String should have at most 255"),
    ],
)
async def test_bad_events_are_400_naming_the_field(client, msg: dict, error: str) -> None:
    resp = await client.post("/api/v1/events", json=msg, headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"].startswith(error)


REPORT = {
    "department": "ICU",
    "reporter": "Li Na",
    "contact": "ext. 6021",
    "description": "Bedside monitors in ICU cannot reach the central station since 08:10.",
    "location": "ICU-3F",
    "system": "monitoring",
}


async def test_a_manual_report_opens_an_incident_for_the_duty_engineer(client) -> None:
    resp = await client.post("/api/v1/incidents", json=REPORT, headers=AUTH)
    assert resp.status == 201
    body = await resp.json()
    assert body["number"].startswith(f"INC-{T0.year}-") and body["status"] == "open"
    store = store_of(client)
    inc = await store.get(body["number"])
    assert (inc.source, inc.severity, inc.category, inc.opened_by) == (
        Source.MANUAL,
        Severity.MINOR,
        Category.OTHER,
        "Li Na",
    )
    assert inc.labels == {"department": "ICU", "system": "monitoring", "room": "ICU-3F"}
    assert "ext. 6021" in inc.description and inc.title.startswith("ICU: Bedside monitors")
    (fired,) = await store.timeline(inc.id)
    assert fired.kind is TimelineKind.FIRED and fired.actor == "Li Na"
    # two reports of the same thing are two incidents: people, not fingerprints, decide they are one
    second = await (await client.post("/api/v1/incidents", json=REPORT, headers=AUTH)).json()
    assert second["number"] != body["number"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"contact": None}, "contact: Input should be a valid string"),
        ({"severity": "urgent"}, "severity: Input should be"),
        ({"category": "fire"}, "category: Input should be"),
        ({"ward": "ICU"}, "ward: unknown field"),
    ],
)
async def test_bad_manual_reports_are_400_naming_the_field(client, change: dict, error: str) -> None:
    resp = await client.post("/api/v1/incidents", json={**REPORT, **change}, headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"].startswith(error)
