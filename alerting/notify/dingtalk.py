"""DingTalk (钉钉) custom robot: ``POST .../robot/send?access_token=<TOKEN>&timestamp=<ms>&sign=<sig>``.

加签: ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))`` with the timestamp in
milliseconds (the server refuses one more than an hour off). Markdown, with the person's mobile both in
``at.atMobiles`` and as ``@<mobile>`` in the text (DingTalk rings only then). The answer is
``{"errcode": 0, "errmsg": "ok"}``; -1 (busy) and 130101 (over 20 a minute) are retryable, 310000 (bad
signature, keyword or IP) and the rest are permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, ClassVar, Literal
from urllib.parse import quote_plus

import aiohttp
from pydantic import SecretStr

from alerting.clock import Clock
from alerting.notify import messages
from alerting.notify.base import check_robot_answer, post_json, redact_url
from alerting.notify.config import ChannelConfigBase
from alerting.notify.model import Notification

RETRYABLE = (-1, 130101)


class DingtalkConfig(ChannelConfigBase):
    kind: Literal["dingtalk"] = "dingtalk"
    access_token: SecretStr
    secret: SecretStr | None = None  # the SEC... string when 加签 is on
    base_url: str = "https://oapi.dingtalk.com/robot/send"


def sign(secret: str, timestamp_ms: str) -> str:
    """The signature, base64 (not yet URL-encoded)."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def payload(n: Notification) -> dict[str, Any]:
    mobile = n.contact.address
    text = messages.markdown(n, mention=f"@{mobile}")
    return {
        "msgtype": "markdown",
        "markdown": {"title": messages.subject(n)[:64], "text": text},
        "at": {"atMobiles": [mobile], "isAtAll": False},
    }


class DingtalkNotifier:
    kind: ClassVar[str] = "dingtalk"

    def __init__(self, config: DingtalkConfig, *, session: aiohttp.ClientSession, clock: Clock) -> None:
        self.config, self.session, self.clock = config, session, clock

    async def send(self, n: Notification) -> None:
        token = self.config.access_token.get_secret_value()
        url = f"{self.config.base_url}?access_token={quote_plus(token)}"
        secrets = [token]
        if self.config.secret is not None:
            secret = self.config.secret.get_secret_value()
            ts = str(round(self.clock.time() * 1000))
            sig = sign(secret, ts)
            url += f"&timestamp={ts}&sign={quote_plus(sig)}"
            secrets.append(secret)
        answer = await post_json(
            self.session,
            url,
            payload(n),
            timeout_seconds=self.config.timeout_seconds,
            secrets=secrets,
        )
        check_robot_answer(
            answer,
            where=f"dingtalk {redact_url(url)}",
            code_field="errcode",
            message_field="errmsg",
            retryable_codes=RETRYABLE,
            secrets=secrets,
        )
