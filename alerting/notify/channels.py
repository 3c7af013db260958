"""The registry: channel kind -> config model and notifier class. Adding a channel = one module + one line here.

``ChannelConfig`` is the union discriminated on ``kind``; each model validates itself. A person's contact method
of kind K is delivered by the configured channel of kind K.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import aiohttp
from pydantic import Field

from alerting.clock import Clock
from alerting.notify.base import Notifier
from alerting.notify.dingtalk import DingtalkConfig, DingtalkNotifier
from alerting.notify.email import EmailConfig, EmailNotifier
from alerting.notify.feishu import FeishuConfig, FeishuNotifier
from alerting.notify.sms import SmsConfig, SmsNotifier
from alerting.notify.webhook import WebhookConfig, WebhookNotifier
from alerting.notify.wecom import WecomConfig, WecomNotifier

ChannelConfig = Annotated[
    WebhookConfig | WecomConfig | DingtalkConfig | FeishuConfig | EmailConfig | SmsConfig,
    Field(discriminator="kind"),
]

NOTIFIERS: dict[str, type[Any]] = {
    "webhook": WebhookNotifier,
    "wecom": WecomNotifier,
    "dingtalk": DingtalkNotifier,
    "feishu": FeishuNotifier,
    "email": EmailNotifier,
    "sms": SmsNotifier,
}


def build_notifier(config: Any, *, session: aiohttp.ClientSession, clock: Clock) -> Notifier:
    cls = NOTIFIERS[config.kind]
    notifier: Notifier = cls(config, session=session, clock=clock)
    return notifier


def build_notifiers(
    configs: Iterable[Any], *, session: aiohttp.ClientSession, clock: Clock
) -> dict[str, Notifier]:
    """One notifier per kind (``NotifySettings`` guarantees each kind is configured at most once)."""
    return {c.kind: build_notifier(c, session=session, clock=clock) for c in configs}
