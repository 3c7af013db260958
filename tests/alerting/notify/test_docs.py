"""The configuration example in docs/notifications.md is valid settings (docs that drift fail here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from alerting.notify.settings import NotifySettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"


def test_the_documented_configuration_loads_with_every_channel():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    [example] = [b for b in blocks if b.startswith("notify:")]
    settings = NotifySettings.model_validate(yaml.safe_load(example)["notify"])
    assert sorted(c.kind for c in settings.channels) == [
        "dingtalk",
        "email",
        "feishu",
        "sms",
        "webhook",
        "wecom",
    ]
    assert settings.link_secret is not None and settings.public_base_url == "https://oncall.hospital.local"
