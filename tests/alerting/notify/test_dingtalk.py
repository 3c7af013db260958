"""DingTalk robot against a loopback receiver that checks the request the way oapi.dingtalk.com does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError

from alerting.clock import FakeClock
from alerting.notify.dingtalk import DingtalkConfig, DingtalkNotifier
from tests.alerting.notify.conftest import closed_port, notification
from tests.alerting.notify.leaks import assert_fails_without_leaking

TOKEN = "a1b2c3d4e5f6a7b8c9d0tokentoken"
SECRET = "SEC0123456789abcdef0123456789abcdef"
MOBILE = "13800001111"


class DingtalkRobot:
    """Checks access_token, the 加签 signature (recomputed from timestamp + secret, ±1 hour) and the body."""

    def __init__(self, clock: FakeClock, *, answers: list[tuple[int, dict[str, Any]]] | None = None) -> None:
        self.clock = clock
        self.received: list[dict[str, Any]] = []
        self.answers = answers or []

    async def handle(self, request: web.Request) -> web.Response:
        if request.method != "POST" or request.path != "/robot/send":
            return web.json_response({"errcode": 404, "errmsg": "not found"}, status=404)
        if request.query.get("access_token") != TOKEN:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        ts = request.query.get("timestamp", "")
        if not ts.isdigit() or abs(int(ts) - self.clock.time() * 1000) > 3600 * 1000:
            return web.json_response({"errcode": 310000, "errmsg": "sign not match, timestamp invalid"})
        expected = base64.b64encode(
            hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
        ).decode()
        if request.query.get("sign") != expected:
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        if not request.content_type == "application/json":
            return web.json_response({"errcode": 40035, "errmsg": "content type"})
        body = json.loads(await request.read())
        self.received.append(body)
        if self.answers:
            status, answer = self.answers.pop(0)
            return web.json_response(answer, status=status)
        return web.json_response({"errcode": 0, "errmsg": "ok"})


async def start(aiohttp_server: Any, robot: DingtalkRobot) -> str:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", robot.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("/robot/send"))


def notifier(
    url: str, clock: FakeClock, session: aiohttp.ClientSession, secret: str = SECRET
) -> DingtalkNotifier:
    cfg = DingtalkConfig(access_token=SecretStr(TOKEN), secret=SecretStr(secret), base_url=url)
    return DingtalkNotifier(cfg, session=session, clock=clock)


async def test_signed_markdown_page_is_accepted_and_mentions_the_mobile(aiohttp_server, clock, session):
    robot = DingtalkRobot(clock)
    url = await start(aiohttp_server, robot)
    await notifier(url, clock, session).send(notification("dingtalk", MOBILE))
    [body] = robot.received
    assert body["msgtype"] == "markdown"
    assert body["at"] == {"atMobiles": [MOBILE], "isAtAll": False}
    text = body["markdown"]["text"]
    assert f"@{MOBILE}" in text  # DingTalk rings only when the mobile is also in the text
    assert "INC-2026-000123" in body["markdown"]["title"]
    assert "[确认处理](https://oncall.hosp/links/ack-token)" in text
    assert "https://wiki.hosp/plans/his-db" in text


async def test_a_wrong_secret_is_refused_by_the_signature_check_and_not_retried(
    aiohttp_server, clock, session, caplog
):
    robot = DingtalkRobot(clock)
    url = await start(aiohttp_server, robot)
    other = "SECffffffffffffffffffffffffffffffff"
    err = await assert_fails_without_leaking(
        notifier(url, clock, session, secret=other).send(notification("dingtalk", MOBILE)),
        [TOKEN, other],
        caplog,
        retryable=False,
    )
    assert "310000" in str(err)
    assert robot.received == []


async def test_a_timestamp_more_than_an_hour_off_is_refused(aiohttp_server, clock, session):
    robot = DingtalkRobot(FakeClock(clock.time() + 2 * 3600))
    url = await start(aiohttp_server, robot)
    with pytest.raises(Exception, match="310000"):
        await notifier(url, clock, session).send(notification("dingtalk", MOBILE))


async def test_throttling_is_retryable(aiohttp_server, clock, session, caplog):
    robot = DingtalkRobot(clock, answers=[(200, {"errcode": 130101, "errmsg": "send too fast"})])
    url = await start(aiohttp_server, robot)
    await assert_fails_without_leaking(
        notifier(url, clock, session).send(notification("dingtalk", MOBILE)),
        [TOKEN, SECRET],
        caplog,
        retryable=True,
    )


async def test_a_503_echoing_the_url_leaks_no_token(aiohttp_server, clock, session, caplog):
    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=503, text=f"overloaded: {request.path_qs}")

    app = web.Application()
    app.router.add_post("/robot/send", echo)
    server = await aiohttp_server(app)
    await assert_fails_without_leaking(
        notifier(str(server.make_url("/robot/send")), clock, session).send(notification("dingtalk", MOBILE)),
        [TOKEN, SECRET],
        caplog,
        retryable=True,
    )


async def test_connection_refused_is_retryable_and_leaks_no_token(clock, session, caplog):
    url = f"http://127.0.0.1:{closed_port()}/robot/send"
    await assert_fails_without_leaking(
        notifier(url, clock, session).send(notification("dingtalk", MOBILE)),
        [TOKEN, SECRET],
        caplog,
        retryable=True,
    )


def test_config_needs_an_access_token():
    with pytest.raises(ValidationError):
        DingtalkConfig.model_validate({"kind": "dingtalk"})
    assert TOKEN not in repr(DingtalkConfig(access_token=SecretStr(TOKEN)))
