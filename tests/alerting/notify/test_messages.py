"""The templates: every message says what, where, since when, severity, the plan and the links, in zh and en."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.notify import messages
from alerting.notify.base import REDACTED, redact_url, scrub, url_secrets
from alerting.notify.sms import short_text
from tests.alerting.notify.conftest import incident_info, notification

EXPECTED = {
    "zh": [
        "【P1 告警】INC-2026-000123 HIS 数据库磁盘 95%",
        "事件: HIS 数据库磁盘 95% — /data 95% used",
        "位置: 院区 总院; 系统 HIS; his-db-01",
        "开始时间: 2026-11-28 11:00:00 (UTC+8)",
        "级别: P1 系统故障",
        "原因: P1 system_failure: level 1 of default",
        "应急预案: https://wiki.hosp/plans/his-db",
        "确认处理: https://oncall.hosp/links/ack-token",
        "标记已解决: https://oncall.hosp/links/resolve-token",
    ],
    "en": [
        "【P1 ALERT】INC-2026-000123 HIS 数据库磁盘 95%",
        "What: HIS 数据库磁盘 95% — /data 95% used",
        "Where: site 总院; system HIS; his-db-01",
        "Since: 2026-11-28 11:00:00 (UTC+8)",
        "Severity: P1 system failure",
        "Why: P1 system_failure: level 1 of default",
        "Emergency plan: https://wiki.hosp/plans/his-db",
        "Acknowledge: https://oncall.hosp/links/ack-token",
        "Resolve: https://oncall.hosp/links/resolve-token",
    ],
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_text_says_what_where_since_severity_plan_and_links(language):
    assert messages.text(notification("email", "a@b.c", language=language)).splitlines() == EXPECTED[language]


def test_a_progress_update_names_the_event_and_a_test_says_it_is_one():
    update = messages.text(notification("email", "a@b.c", kind="progress", reason="escalated"))
    assert "进展: 已升级" in update and update.startswith("【P1 进展 已升级】")
    sms = short_text(notification("sms", "+8613800000000", kind="progress", reason="resolved"), 300)
    assert sms.startswith("【P1 进展 已解决】")  # a text message tells an update from the page it follows
    test = messages.text(
        notification("email", "a@b.c", kind="test", ack_url=None, resolve_url=None, language="en")
    )
    assert "This is a test message; no action is needed." in test and "Acknowledge" not in test


def test_a_message_without_site_or_assets_still_says_where():
    n = notification("email", "a@b.c", incident=incident_info(site=None, system=None, assets=()))
    assert "位置: -" in messages.text(n)


def test_markdown_links_and_mention():
    md = messages.markdown(notification("wecom", "zhangsan"), mention="<@zhangsan>")
    assert md.startswith("### 【P1 告警】")
    assert (
        "[确认处理](https://oncall.hosp/links/ack-token) | [标记已解决](https://oncall.hosp/links/resolve-token)"
        in md
    )
    assert md.endswith("<@zhangsan>")


def test_sms_text_keeps_the_ack_link_whole_when_shortened():
    n = notification("sms", "+8613800000000", incident=incident_info(title="很长的标题" * 40))
    text = short_text(n, 120)
    assert len(text) <= 120 and text.endswith("https://oncall.hosp/links/ack-token")


@given(st.text(min_size=1, max_size=200))
def test_truncate_bytes_never_exceeds_the_limit_or_splits_a_character(s):
    cut = messages.truncate_bytes(s, 50)
    assert len(cut.encode()) <= 50
    cut.encode().decode()  # valid UTF-8


_token = st.text(
    alphabet=st.characters(min_codepoint=48, max_codepoint=122, categories=["Lu", "Ll", "Nd"]),
    min_size=8,
    max_size=40,
)


@given(key=_token, path=_token)
def test_redacted_urls_hold_no_query_value_or_hidden_path(key, path):
    url = f"https://hooks.example:8443/bot/{path}?key={key}&x=1"
    shown = redact_url(url, keep_path=False)
    assert key not in shown and path not in shown
    assert shown.startswith("https://hooks.example:8443/") and f"key={REDACTED}" in shown
    assert key in url_secrets(url) and path in url_secrets(url)
    assert key not in scrub(f"error at {url}", url_secrets(url))
