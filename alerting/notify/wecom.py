"""WeCom (企业微信) group robot: ``POST .../cgi-bin/webhook/send?key=<KEY>``; the key is the only credential.

Markdown (≤4096 bytes) with ``<@userid>`` mentioning the person, or text (≤2048 bytes) with ``mentioned_list``.
The answer is ``{"errcode": 0, "errmsg": "ok"}``; -1 (busy) and 45009 (over 20 messages a minute) are retryable.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import aiohttp
from pydantic import SecretStr

from alerting.clock import Clock
from alerting.notify import messages
from alerting.notify.base import check_robot_answer, post_json, redact_url
from alerting.notify.config import ChannelConfigBase
from alerting.notify.model import Notification

RETRYABLE = (-1, 45009)


class WecomConfig(ChannelConfigBase):
    kind: Literal["wecom"] = "wecom"
    key: SecretStr
    base_url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    msgtype: Literal["markdown", "text"] = "markdown"


def payload(n: Notification, msgtype: str) -> dict[str, Any]:
    user = n.contact.address
    if msgtype == "text":
        return {
            "msgtype": "text",
            "text": {"content": messages.truncate_bytes(messages.text(n), 2048), "mentioned_list": [user]},
        }
    content = messages.markdown(n, mention=f"<@{user}>")
    return {"msgtype": "markdown", "markdown": {"content": messages.truncate_bytes(content, 4096)}}


class WecomNotifier:
    kind: ClassVar[str] = "wecom"

    def __init__(self, config: WecomConfig, *, session: aiohttp.ClientSession, clock: Clock) -> None:
        self.config, self.session, self.clock = config, session, clock

    async def send(self, n: Notification) -> None:
        key = self.config.key.get_secret_value()
        url = f"{self.config.base_url}?key={key}"
        answer = await post_json(
            self.session,
            url,
            payload(n, self.config.msgtype),
            timeout_seconds=self.config.timeout_seconds,
            secrets=[key],
        )
        check_robot_answer(
            answer,
            where=f"wecom {redact_url(url)}",
            code_field="errcode",
            message_field="errmsg",
            retryable_codes=RETRYABLE,
            secrets=[key],
        )
