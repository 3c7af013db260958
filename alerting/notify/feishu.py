"""Feishu / Lark custom bot: ``POST .../open-apis/bot/v2/hook/<HOOK_ID>``; the hook id is a credential.

Signing differs from DingTalk: the timestamp is in **seconds**, the HMAC key is ``f"{timestamp}\\n{secret}"``,
the message is empty, the result is plain base64, and both go in the JSON body. A rich-text ``post`` with the
person @-mentioned (``ou_...`` open id). The answer is ``{"code": 0, "msg": "success"}``; 11232 (rate
limited) is retryable, 9499 (bad request), 19021 (bad signature) and the rest are permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, ClassVar, Literal

import aiohttp
from pydantic import SecretStr

from alerting.clock import Clock
from alerting.notify import messages
from alerting.notify.base import check_robot_answer, post_json, redact_url
from alerting.notify.config import ChannelConfigBase
from alerting.notify.model import Notification

RETRYABLE = (11232,)


class FeishuConfig(ChannelConfigBase):
    kind: Literal["feishu"] = "feishu"
    hook_id: SecretStr
    secret: SecretStr | None = None
    base_url: str = "https://open.feishu.cn/open-apis/bot/v2/hook"


def sign(secret: str, timestamp_s: str) -> str:
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def payload(n: Notification) -> dict[str, Any]:
    w = messages.words(n)
    rows: list[list[dict[str, str]]] = [
        [{"tag": "text", "text": f"{label}: {value}"}] for label, value in messages.lines(n)
    ]
    links = []
    if n.ack_url:
        links.append({"tag": "a", "text": w.ack, "href": n.ack_url})
    if n.resolve_url:
        links.append({"tag": "a", "text": " " + w.resolve, "href": n.resolve_url})
    if links:
        rows.append(links)
    if n.kind == "test":
        rows.append([{"tag": "text", "text": w.test_note}])
    if n.contact.address:
        rows.append([{"tag": "at", "user_id": n.contact.address}])
    lang = "zh_cn" if n.language == "zh" else "en_us"
    return {
        "msg_type": "post",
        "content": {"post": {lang: {"title": messages.subject(n), "content": rows}}},
    }


class FeishuNotifier:
    kind: ClassVar[str] = "feishu"

    def __init__(self, config: FeishuConfig, *, session: aiohttp.ClientSession, clock: Clock) -> None:
        self.config, self.session, self.clock = config, session, clock

    async def send(self, n: Notification) -> None:
        hook = self.config.hook_id.get_secret_value()
        url = f"{self.config.base_url.rstrip('/')}/{hook}"
        body = payload(n)
        secrets = [hook]
        if self.config.secret is not None:
            secret = self.config.secret.get_secret_value()
            ts = str(int(self.clock.time()))
            body = {"timestamp": ts, "sign": sign(secret, ts), **body}
            secrets.append(secret)
        answer = await post_json(
            self.session,
            url,
            body,
            timeout_seconds=self.config.timeout_seconds,
            secrets=secrets,
            keep_path=False,
        )
        check_robot_answer(
            answer,
            where=f"feishu {redact_url(url, keep_path=False)}",
            code_field="code",
            message_field="msg",
            retryable_codes=RETRYABLE,
            secrets=secrets,
        )
