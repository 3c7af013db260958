"""SMS through an HTTP gateway described by templates.

``url`` and ``body`` are ``string.Template`` texts with ``$phone``, ``$text`` and ``$number`` (the incident
number). Values are escaped for where they go: URL-quoted in the URL, JSON-escaped in a JSON body, form-quoted
in a form body. ``headers`` carry the gateway's API key (secret). 2xx is success; 429/5xx retryable.
"""

from __future__ import annotations

import json
import string
from typing import Annotated, ClassVar, Literal
from urllib.parse import quote, quote_plus

import aiohttp
from pydantic import Field, SecretStr, model_validator

from alerting.clock import Clock
from alerting.notify import messages
from alerting.notify.base import request_text
from alerting.notify.config import ChannelConfigBase
from alerting.notify.model import Notification

PLACEHOLDERS = frozenset({"phone", "text", "number"})
_SAMPLE = {"phone": "+8613800000000", "text": 'a "quoted" text\nline 2 & more', "number": "INC-2026-000001"}


class SmsConfig(ChannelConfigBase):
    kind: Literal["sms"] = "sms"
    url: SecretStr  # may carry an API key in its query
    method: Literal["POST", "GET"] = "POST"
    body: str | None = None
    content_type: Literal["application/json", "application/x-www-form-urlencoded", "text/plain"] = (
        "application/json"
    )
    headers: dict[str, SecretStr] = {}
    max_chars: Annotated[int, Field(ge=20, le=2000)] = 300

    @model_validator(mode="after")
    def _templates_render(self) -> SmsConfig:
        for field, text in (("url", self.url.get_secret_value()), ("body", self.body)):
            if text is None:
                continue
            try:
                names = {
                    m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)
                }
            except (ValueError, TypeError) as err:
                raise ValueError(f"{field}: bad template: {err}") from None
            unknown = sorted(n for n in names if n and n not in PLACEHOLDERS)
            if unknown:
                raise ValueError(f"{field}: unknown placeholders {unknown}; use $phone, $text, $number")
        if self.method == "GET" and self.body is not None:
            raise ValueError("a GET request has no body")
        if self.body is not None and self.content_type == "application/json":
            try:
                json.loads(render(self.body, _SAMPLE, self.content_type))
            except ValueError as err:
                raise ValueError(f"body: not JSON once filled in: {err}") from None
        return self


def render(template: str, values: dict[str, str], content_type: str) -> str:
    if content_type == "application/json":
        escaped = {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in values.items()}
    elif content_type == "application/x-www-form-urlencoded":
        escaped = {k: quote_plus(v) for k, v in values.items()}
    elif content_type == "url":
        escaped = {k: quote(v, safe="") for k, v in values.items()}
    else:
        escaped = dict(values)
    return string.Template(template).substitute(escaped)


def short_text(n: Notification, max_chars: int) -> str:
    """Subject, where, and the acknowledge link: what fits a text message."""
    w = messages.words(n)
    parts = [messages.subject(n)]
    facts = dict(messages.lines(n))
    parts.append(f"{w.where}: {facts[w.where]}")
    if n.ack_url:
        parts.append(f"{w.ack}: {n.ack_url}")
    if n.kind == "test":
        parts.append(w.test_note)
    out = "\n".join(parts)
    if len(out) > max_chars and n.ack_url:  # keep the link whole; shorten the title instead
        head = out[: max(0, max_chars - len(n.ack_url) - 2)]
        out = head + "\n" + n.ack_url
    return out[:max_chars]


class SmsNotifier:
    kind: ClassVar[str] = "sms"

    def __init__(self, config: SmsConfig, *, session: aiohttp.ClientSession, clock: Clock) -> None:
        self.config, self.session, self.clock = config, session, clock

    async def send(self, n: Notification) -> None:
        c = self.config
        values = {
            "phone": n.contact.address,
            "text": short_text(n, c.max_chars),
            "number": n.incident.number,
        }
        url = render(c.url.get_secret_value(), values, "url")
        body = render(c.body, values, c.content_type).encode() if c.body is not None else None
        headers = {k: v.get_secret_value() for k, v in c.headers.items()}
        if body is not None:
            headers.setdefault("Content-Type", f"{c.content_type}; charset=utf-8")
        await request_text(
            self.session,
            c.method,
            url,
            body,
            headers=headers,
            timeout_seconds=c.timeout_seconds,
            secrets=list(headers.values()),
        )
