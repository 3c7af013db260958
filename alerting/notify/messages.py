"""Message templates, Chinese and English: what, where, since when, severity, the emergency plan, and the
acknowledge/resolve links. Channels pick a form: ``subject`` + ``text`` (email, SMS, text robots) or
``markdown`` (WeCom, DingTalk). Times are shown in Asia/Shanghai, the hospital's wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from alerting.notify.model import Notification

TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class _Words:
    kinds: dict[str, str]
    categories: dict[str, str]
    what: str
    where: str
    since: str
    severity: str
    plan: str
    ack: str
    resolve: str
    site: str
    system: str
    reason: str
    test_note: str
    status: str
    events: dict[str, str]


ZH = _Words(
    kinds={"page": "告警", "progress": "进展", "test": "测试"},
    categories={
        "system_failure": "系统故障",
        "network_outage": "网络中断",
        "data_loss": "数据丢失",
        "security_event": "安全事件",
        "other": "其他",
    },
    what="事件",
    where="位置",
    since="开始时间",
    severity="级别",
    plan="应急预案",
    ack="确认处理",
    resolve="标记已解决",
    site="院区",
    system="系统",
    reason="原因",
    test_note="这是一条测试消息，无需处理。",
    status="进展",
    events={"opened": "已创建", "acknowledged": "已确认", "escalated": "已升级", "resolved": "已解决"},
)
EN = _Words(
    kinds={"page": "ALERT", "progress": "UPDATE", "test": "TEST"},
    categories={
        "system_failure": "system failure",
        "network_outage": "network outage",
        "data_loss": "data loss",
        "security_event": "security event",
        "other": "other",
    },
    what="What",
    where="Where",
    since="Since",
    severity="Severity",
    plan="Emergency plan",
    ack="Acknowledge",
    resolve="Resolve",
    site="site",
    system="system",
    reason="Why",
    test_note="This is a test message; no action is needed.",
    status="Update",
    events={
        "opened": "opened",
        "acknowledged": "acknowledged",
        "escalated": "escalated",
        "resolved": "resolved",
    },
)


def words(n: Notification) -> _Words:
    return ZH if n.language == "zh" else EN


def subject(n: Notification) -> str:
    """One line: ``【P1 告警】INC-2026-000123 HIS 数据库磁盘 95%``; an update says which: ``【P1 进展 已解决】…``
    (a text message carries little more than this line, so the event must be in it)."""
    w = words(n)
    i = n.incident
    kind = w.kinds[n.kind]
    if n.kind == "progress" and n.reason:
        kind += f" {w.events.get(n.reason, n.reason)}"
    return f"【{i.severity} {kind}】{i.number} {i.title}"


def _where(n: Notification) -> str:
    w = words(n)
    i = n.incident
    parts = []
    if i.site:
        parts.append(f"{w.site} {i.site}")
    if i.system:
        parts.append(f"{w.system} {i.system}")
    if i.assets:
        parts.append(", ".join(i.assets))
    return "; ".join(parts) or "-"


def _since(n: Notification) -> str:
    return n.incident.since.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S") + " (UTC+8)"


def lines(n: Notification) -> list[tuple[str, str]]:
    """The labelled facts, in order."""
    w = words(n)
    i = n.incident
    category = w.categories.get(i.category, i.category)
    facts = [
        (w.what, i.title + (f" — {i.summary}" if i.summary else "")),
        (w.where, _where(n)),
        (w.since, _since(n)),
        (w.severity, f"{i.severity} {category}"),
    ]
    if n.kind == "progress":  # a stakeholder update: the reason is the event
        facts.append((w.status, w.events.get(n.reason, n.reason)))
    elif n.reason:
        facts.append((w.reason, n.reason))
    if i.plan_url:
        facts.append((w.plan, i.plan_url))
    return facts


def text(n: Notification) -> str:
    """Plain text: subject, facts, links (email bodies, text robots, SMS)."""
    w = words(n)
    out = [subject(n)]
    out += [f"{label}: {value}" for label, value in lines(n)]
    if n.ack_url:
        out.append(f"{w.ack}: {n.ack_url}")
    if n.resolve_url:
        out.append(f"{w.resolve}: {n.resolve_url}")
    if n.kind == "test":
        out.append(w.test_note)
    return "\n".join(out)


def markdown(n: Notification, *, mention: str = "") -> str:
    """Markdown for the robots; ``mention`` (e.g. ``<@zhangsan>`` or ``@13800001111``) goes on its own line."""
    w = words(n)
    out = [f"### {subject(n)}"]
    out += [f"> **{label}**: {value}" for label, value in lines(n) if label != w.plan]
    if n.incident.plan_url:
        out.append(f"> **{w.plan}**: [{n.incident.plan_url}]({n.incident.plan_url})")
    links = []
    if n.ack_url:
        links.append(f"[{w.ack}]({n.ack_url})")
    if n.resolve_url:
        links.append(f"[{w.resolve}]({n.resolve_url})")
    if links:
        out.append("")
        out.append(" | ".join(links))
    if n.kind == "test":
        out.append(w.test_note)
    if mention:
        out.append("")
        out.append(mention)
    return "\n".join(out)


def truncate_bytes(s: str, limit: int) -> str:
    """``s`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    data = s.encode()
    if len(data) <= limit:
        return s
    return data[: limit - 3].decode(errors="ignore") + "..."
