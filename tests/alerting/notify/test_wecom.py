"""WeCom group robot against a loopback receiver that checks the request the way qyapi.weixin.qq.com does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from alerting.clock import FakeClock
from alerting.notify.wecom import WecomConfig, WecomNotifier
from tests.alerting.notify.conftest import closed_port, notification
from tests.alerting.notify.leaks import assert_fails_without_leaking

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


class WecomRobot:
    def __init__(self, answers: list[dict[str, Any]] | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers = answers or []

    async def handle(self, request: web.Request) -> web.Response:
        if request.query.get("key") != KEY:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
        msgtype = body.get("msgtype")
        if msgtype == "markdown":
            content = body["markdown"]["content"]
            if set(body) != {"msgtype", "markdown"} or len(content.encode()) > 4096:
                return web.json_response({"errcode": 40058, "errmsg": "markdown.content exceed max length"})
        elif msgtype == "text":
            content = body["text"]["content"]
            if len(content.encode()) > 2048 or not isinstance(body["text"].get("mentioned_list", []), list):
                return web.json_response({"errcode": 40058, "errmsg": "text.content exceed max length"})
        else:
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
        self.received.append(body)
        if self.answers:
            return web.json_response(self.answers.pop(0))
        return web.json_response({"errcode": 0, "errmsg": "ok"})


async def start(aiohttp_server: Any, robot: WecomRobot) -> str:
    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", robot.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("/cgi-bin/webhook/send"))


def notifier(
    url: str, session: Any, clock: FakeClock, msgtype: str = "markdown", key: str = KEY
) -> WecomNotifier:
    cfg = WecomConfig(key=SecretStr(key), base_url=url, msgtype=msgtype)  # type: ignore[arg-type]
    return WecomNotifier(cfg, session=session, clock=clock)


async def test_markdown_page_mentions_the_user_and_carries_the_links(aiohttp_server, clock, session):
    robot = WecomRobot()
    await notifier(await start(aiohttp_server, robot), session, clock).send(notification("wecom", "zhangsan"))
    [body] = robot.received
    content = body["markdown"]["content"]
    assert "<@zhangsan>" in content
    assert "【P1 告警】INC-2026-000123 HIS 数据库磁盘 95%" in content
    assert "[确认处理](https://oncall.hosp/links/ack-token)" in content
    assert "[标记已解决](https://oncall.hosp/links/resolve-token)" in content
    assert "总院" in content and "his-db-01" in content and "2026-11-28 11:00:00" in content


async def test_text_page_uses_mentioned_list(aiohttp_server, clock, session):
    robot = WecomRobot()
    url = await start(aiohttp_server, robot)
    n = notification("wecom", "lisi", language="en")
    await notifier(url, session, clock, msgtype="text").send(n)
    [body] = robot.received
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_list"] == ["lisi"]
    assert body["text"]["content"].startswith("【P1 ALERT】INC-2026-000123")
    assert "Acknowledge: https://oncall.hosp/links/ack-token" in body["text"]["content"]


async def test_a_long_message_is_cut_to_the_markdown_limit(aiohttp_server, clock, session):
    robot = WecomRobot()
    url = await start(aiohttp_server, robot)
    from tests.alerting.notify.conftest import incident_info

    n = notification("wecom", "zhangsan", incident=incident_info(summary="磁" * 3000))
    await notifier(url, session, clock).send(n)
    assert len(robot.received[0]["markdown"]["content"].encode()) <= 4096


async def test_a_wrong_key_is_permanent_and_not_leaked(aiohttp_server, clock, session, caplog):
    robot = WecomRobot()
    url = await start(aiohttp_server, robot)
    wrong = "00000000-0000-0000-0000-000000000000"
    err = await assert_fails_without_leaking(
        notifier(url, session, clock, key=wrong).send(notification("wecom", "zhangsan")),
        [wrong],
        caplog,
        retryable=False,
    )
    assert "93000" in str(err)


@pytest.mark.parametrize(("errcode", "retryable"), [(45009, True), (-1, True), (40058, False)])
async def test_errcodes_are_classified(aiohttp_server, clock, session, caplog, errcode, retryable):
    robot = WecomRobot(answers=[{"errcode": errcode, "errmsg": f"error for key={KEY}"}])
    url = await start(aiohttp_server, robot)
    await assert_fails_without_leaking(
        notifier(url, session, clock).send(notification("wecom", "zhangsan")),
        [KEY],
        caplog,
        retryable=retryable,
    )


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (404, False)]
)
async def test_http_statuses_are_classified(aiohttp_server, clock, session, caplog, status, retryable):
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, text=f"echo {request.path_qs}")

    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", answer)
    server = await aiohttp_server(app)
    url = str(server.make_url("/cgi-bin/webhook/send"))
    err = await assert_fails_without_leaking(
        notifier(url, session, clock).send(notification("wecom", "zhangsan")),
        [KEY],
        caplog,
        retryable=retryable,
    )
    assert f"HTTP {status}" in str(err)


async def test_connection_refused_is_retryable(clock, session, caplog):
    url = f"http://127.0.0.1:{closed_port()}/cgi-bin/webhook/send"
    await assert_fails_without_leaking(
        notifier(url, session, clock).send(notification("wecom", "zhangsan")), [KEY], caplog, retryable=True
    )
