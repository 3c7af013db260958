"""Incidents and duty: open incidents over time by severity and category, alerts firing, alert transitions,
who is on duty, notification deliveries by channel and result.

Built from what the collector exports today (``wardwatch_incidents_open``, ``wardwatch_alerts``,
``wardwatch_alert_transitions_total``, ``wardwatch_oncall_info``, ``wardwatch_notifications_total``).
Opened/resolved counts, MTTA/MTTR and pages per person need metrics no module declares yet: docs/dashboards.md
lists them.
"""

from __future__ import annotations

from grafanalib import core as g

from alerting.model import Severity
from dashboards import metrics as m
from dashboards.panels import AMBER, GREEN, RED, Layout, dashboard, stat, steps, table, timeseries

UID = "wardwatch-incidents"
SEVERITIES = tuple(s.value for s in Severity)  # critical (P1) ... warning (P4)


def build() -> g.Dashboard:
    lay = Layout()
    lay.row("Now")
    lay.add(
        stat(
            "Open incidents",
            [(f'sum({m.INCIDENTS_OPEN}{{severity="{sev}"}})', sev) for sev in SEVERITIES],
            thresholds=steps((None, GREEN), (1, RED)),
        ),
        12,
        5,
    )
    lay.add(
        stat(
            "Alerts",
            [(f"sum by (phase) ({m.ALERTS})", "{{phase}}")],
            thresholds=steps((None, GREEN), (1, AMBER)),
            description="Alert instances the rules hold: pending (waiting out for:) and firing.",
        ),
        6,
        5,
    )
    lay.add(
        table(
            "On duty now",
            [(f"max by (team, layer, person) ({m.ONCALL_INFO})", "")],
            hide=("Time", "Value"),
            rename={"team": "Team", "layer": "Layer", "person": "Person"},
            colour=None,
            sort_by="Team",
            descending=False,
        ),
        6,
        10,
    )
    lay.add(
        table(
            "Open by category",
            [(f"sum by (category) ({m.INCIDENTS_OPEN})", "")],
            hide=("Time",),
            rename={"category": "Category", "Value": "Open"},
            thresholds=steps((None, GREEN), (1, AMBER)),
            sort_by="Open",
        ),
        18,
        5,
    )

    lay.row("Over time")
    lay.add(
        timeseries(
            "Open incidents by severity",
            [(f"sum by (severity) ({m.INCIDENTS_OPEN})", "{{severity}}")],
            stacked=True,
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Open incidents by category",
            [(f"sum by (category) ({m.INCIDENTS_OPEN})", "{{category}}")],
            stacked=True,
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Alert transitions per hour",
            [(f"sum by (kind) (increase({m.ALERT_TRANSITIONS}[1h]))", "{{kind}}")],
            bars=True,
            description="How often rules fire and resolve: a rising line is a noisy rule or a sick system.",
        ),
        24,
        8,
    )

    lay.row("Notifications")
    lay.add(
        stat(
            "Deliveries failed (24 h)",
            [(f'sum(increase({m.NOTIFICATIONS_TOTAL}{{result="failed"}}[24h]))', "failed")],
            thresholds=steps((None, GREEN), (1, RED)),
            description="Pages that exhausted every retry and contact method: someone was not reached.",
        ),
        6,
        8,
    )
    lay.add(
        timeseries(
            "Notifications by channel and result",
            [(f"sum by (channel, result) (increase({m.NOTIFICATIONS_TOTAL}[1h]))", "{{channel}} {{result}}")],
            bars=True,
            description="Tries per hour: delivered, retry, failover, failed, cancelled; by SMS, WeCom, DingTalk, mail...",
        ),
        18,
        8,
    )
    return dashboard(
        uid=UID,
        title="wardwatch — Incidents and duty",
        description="Open incidents, alerts and the duty roster.",
        layout=lay,
        tags=["incidents", "oncall"],
        time_from="now-7d",
    )
