"""Feishu bot against a loopback receiver that checks the body and the in-body signature as Feishu does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from alerting.clock import FakeClock
from alerting.notify.feishu import FeishuConfig, FeishuNotifier
from tests.alerting.notify.conftest import closed_port, notification
from tests.alerting.notify.leaks import assert_fails_without_leaking

HOOK = "2f1c7a6e-5d4b-4c3a-9b8e-7f6a5d4c3b2a"
SECRET = "feishuSigningSecret0123456789"


class FeishuBot:
    def __init__(self, clock: FakeClock, answers: list[dict[str, Any]] | None = None) -> None:
        self.clock = clock
        self.received: list[dict[str, Any]] = []
        self.answers = answers or []

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["hook"] != HOOK:
            return web.json_response(
                {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
            )
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"code": 9499, "msg": "Bad Request"}, status=400)
        ts = str(body.get("timestamp", ""))
        if not ts.isdigit() or abs(int(ts) - self.clock.time()) > 3600:
            return web.json_response(
                {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
            )
        expected = base64.b64encode(
            hmac.new(f"{ts}\n{SECRET}".encode(), b"", hashlib.sha256).digest()
        ).decode()
        if body.get("sign") != expected:
            return web.json_response(
                {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
            )
        post = body.get("content", {}).get("post", {})
        if body.get("msg_type") != "post" or not post:
            return web.json_response({"code": 9499, "msg": "Bad Request"}, status=400)
        for lang in post.values():
            assert isinstance(lang["title"], str)
            for row in lang["content"]:
                for el in row:
                    if el["tag"] not in ("text", "a", "at", "img"):
                        return web.json_response({"code": 9499, "msg": "Bad Request"}, status=400)
        self.received.append(body)
        if self.answers:
            return web.json_response(self.answers.pop(0))
        return web.json_response({"code": 0, "msg": "success", "data": {}})


async def start(aiohttp_server: Any, bot: FeishuBot) -> str:
    app = web.Application()
    app.router.add_post("/open-apis/bot/v2/hook/{hook}", bot.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("/open-apis/bot/v2/hook"))


def notifier(url: str, session: Any, clock: FakeClock, secret: str = SECRET) -> FeishuNotifier:
    cfg = FeishuConfig(hook_id=SecretStr(HOOK), secret=SecretStr(secret), base_url=url)
    return FeishuNotifier(cfg, session=session, clock=clock)


async def test_signed_post_with_links_and_mention(aiohttp_server, clock, session):
    bot = FeishuBot(clock)
    await notifier(await start(aiohttp_server, bot), session, clock).send(notification("feishu", "ou_abc123"))
    [body] = bot.received
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] == "【P1 告警】INC-2026-000123 HIS 数据库磁盘 95%"
    elements = [el for row in post["content"] for el in row]
    assert {"tag": "at", "user_id": "ou_abc123"} in elements
    assert {"tag": "a", "text": "确认处理", "href": "https://oncall.hosp/links/ack-token"} in elements
    assert any(el["tag"] == "text" and "应急预案" in el["text"] for el in elements)


async def test_a_wrong_secret_fails_the_signature_check_permanently(aiohttp_server, clock, session, caplog):
    bot = FeishuBot(clock)
    url = await start(aiohttp_server, bot)
    err = await assert_fails_without_leaking(
        notifier(url, session, clock, secret="another-secret-000000").send(notification("feishu", "ou_abc")),
        [HOOK, "another-secret-000000"],
        caplog,
        retryable=False,
    )
    assert "19021" in str(err)
    assert bot.received == []


async def test_rate_limit_is_retryable(aiohttp_server, clock, session, caplog):
    bot = FeishuBot(clock, answers=[{"code": 11232, "msg": "frequency limited"}])
    url = await start(aiohttp_server, bot)
    await assert_fails_without_leaking(
        notifier(url, session, clock).send(notification("feishu", "ou_abc")),
        [HOOK, SECRET],
        caplog,
        retryable=True,
    )


async def test_the_hook_id_in_the_path_is_not_leaked_on_connection_refused(clock, session, caplog):
    url = f"http://127.0.0.1:{closed_port()}/open-apis/bot/v2/hook"
    await assert_fails_without_leaking(
        notifier(url, session, clock).send(notification("feishu", "ou_abc")),
        [HOOK, SECRET],
        caplog,
        retryable=True,
    )
