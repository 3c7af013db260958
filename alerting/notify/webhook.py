"""Generic JSON webhook, HMAC-SHA256 signed.

``POST <url>`` with the JSON below; when a ``secret`` is set, ``X-Wardwatch-Timestamp: <unix seconds>`` and
``X-Wardwatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``. A receiver recomputes the
signature over the raw body and rejects a timestamp older than a few minutes (replays).
The URL is the channel's ``url`` or, when unset, the person's webhook contact address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, ClassVar, Literal

import aiohttp
from pydantic import SecretStr

from alerting.clock import Clock
from alerting.notify import messages
from alerting.notify.base import NotifyError, post_json
from alerting.notify.config import ChannelConfigBase
from alerting.notify.model import Notification

TIMESTAMP_HEADER = "X-Wardwatch-Timestamp"
SIGNATURE_HEADER = "X-Wardwatch-Signature"


class WebhookConfig(ChannelConfigBase):
    kind: Literal["webhook"] = "webhook"
    url: SecretStr | None = None
    secret: SecretStr | None = None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload(n: Notification) -> dict[str, Any]:
    return {
        "version": "1",
        "kind": n.kind,
        "person": {"id": n.person_id, "name": n.person_name},
        "incident": n.incident.model_dump(mode="json"),
        "reason": n.reason,
        "subject": messages.subject(n),
        "text": messages.text(n),
        "links": {"acknowledge": n.ack_url, "resolve": n.resolve_url},
    }


class WebhookNotifier:
    kind: ClassVar[str] = "webhook"

    def __init__(self, config: WebhookConfig, *, session: aiohttp.ClientSession, clock: Clock) -> None:
        self.config, self.session, self.clock = config, session, clock

    async def send(self, n: Notification) -> None:
        url = self.config.url.get_secret_value() if self.config.url else n.contact.address
        if not url.startswith(("http://", "https://")):
            raise NotifyError("webhook: the address is not an http(s) URL", retryable=False)
        body = json.dumps(payload(n), ensure_ascii=False).encode()
        headers = {}
        secrets = []
        if self.config.secret is not None:
            secret = self.config.secret.get_secret_value()
            ts = str(int(self.clock.time()))
            headers = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: signature(secret, ts, body)}
            secrets.append(secret)
        await post_json(
            self.session,
            url,
            None,
            data=body,
            headers=headers,
            timeout_seconds=self.config.timeout_seconds,
            secrets=secrets,
            keep_path=False,
        )
