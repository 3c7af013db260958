"""SMS gateway described by URL/body templates, against a loopback gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError

from alerting.notify.sms import SmsConfig, SmsNotifier
from tests.alerting.notify.conftest import closed_port, notification
from tests.alerting.notify.leaks import assert_fails_without_leaking

API_KEY = "sms-api-key-5f4e3d2c1b"


class Gateway:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Api-Key") != API_KEY and request.query.get("apikey") != API_KEY:
            return web.json_response({"error": "unauthorised"}, status=401)
        raw = await request.read()
        if request.content_type == "application/json":
            body: Any = json.loads(raw)
        elif request.content_type == "application/x-www-form-urlencoded":
            body = dict(await request.post())
        else:
            body = raw.decode()
        self.received.append((dict(request.query), body))
        return web.json_response({"ok": True}, status=self.status)


async def start(aiohttp_server: Any, gw: Gateway) -> str:
    app = web.Application()
    app.router.add_route("*", "/send", gw.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("/send"))


async def test_json_body_template_is_filled_and_escaped(aiohttp_server, clock, session):
    gw = Gateway()
    url = await start(aiohttp_server, gw)
    cfg = SmsConfig(
        url=SecretStr(url),
        body='{"to": "$phone", "content": "$text", "ref": "$number"}',
        headers={"X-Api-Key": SecretStr(API_KEY)},
    )
    await SmsNotifier(cfg, session=session, clock=clock).send(notification("sms", "+8613800001111"))
    [(_, body)] = gw.received
    assert body["to"] == "+8613800001111"
    assert body["ref"] == "INC-2026-000123"
    assert body["content"].startswith("【P1 告警】INC-2026-000123")
    assert "https://oncall.hosp/links/ack-token" in body["content"]  # the link survives shortening
    assert len(body["content"]) <= 300


async def test_get_with_url_template_and_form_body(aiohttp_server, clock, session):
    gw = Gateway()
    url = await start(aiohttp_server, gw)
    get_cfg = SmsConfig(url=SecretStr(url + "?apikey=" + API_KEY + "&to=$phone&msg=$text"), method="GET")
    await SmsNotifier(get_cfg, session=session, clock=clock).send(notification("sms", "+8613800001111"))
    form_cfg = SmsConfig(
        url=SecretStr(url + "?apikey=" + API_KEY),
        body="mobile=$phone&text=$text",
        content_type="application/x-www-form-urlencoded",
    )
    await SmsNotifier(form_cfg, session=session, clock=clock).send(notification("sms", "+8613800002222"))
    (query, _), (_, form) = gw.received
    assert query["to"] == "+8613800001111" and query["msg"].startswith("【P1 告警】")
    assert form["mobile"] == "+8613800002222" and "&" not in form["mobile"]


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (401, False), (422, False)])
async def test_statuses_are_classified_and_the_key_never_leaks(
    aiohttp_server, clock, session, caplog, status, retryable
):
    gw = Gateway(status=status)
    url = await start(aiohttp_server, gw)
    cfg = SmsConfig(url=SecretStr(url + "?apikey=" + API_KEY), body='{"to": "$phone"}')
    await assert_fails_without_leaking(
        SmsNotifier(cfg, session=session, clock=clock).send(notification("sms", "+8613800001111")),
        [API_KEY],
        caplog,
        retryable=retryable,
    )


async def test_connection_refused_is_retryable(clock, session, caplog):
    cfg = SmsConfig(
        url=SecretStr(f"http://127.0.0.1:{closed_port()}/send"),
        body='{"to": "$phone"}',
        headers={"X-Api-Key": SecretStr(API_KEY)},
    )
    await assert_fails_without_leaking(
        SmsNotifier(cfg, session=session, clock=clock).send(notification("sms", "+8613800001111")),
        [API_KEY],
        caplog,
        retryable=True,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "http://gw/send", "body": '{"to": "$mobile"}'}, "unknown placeholders"),
        ({"url": "http://gw/send", "body": '{"to": $phone}'}, "not JSON"),
        ({"url": "http://gw/send", "method": "GET", "body": "x"}, "GET request has no body"),
    ],
)
def test_bad_templates_fail_at_load(fields, message):
    with pytest.raises(ValidationError, match=message):
        SmsConfig.model_validate({"kind": "sms", **fields})
