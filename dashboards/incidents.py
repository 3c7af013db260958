"""Incidents and duty: open incidents over time by severity and category, incidents opened and resolved, MTTA
and MTTR, alerts firing, alert transitions, who is on duty, pages per person, notification deliveries by
channel and result.

The incident metrics carry the incident's ``site`` and ``system`` labels (none when the incident has none), so
every incident panel filters by the ``site`` and ``system`` variables (``SEL_INCIDENT``; "All" = ``.*`` also
matches incidents without them); alerts, the roster, pages and notifications have no site and stay
hospital-wide.

The incident metrics come from the store (``alerting/rule_metrics.py``): every collector sharing a PostgreSQL
store counts the same incidents, so their queries take one collector's series (``max without (instance, job)``)
before adding up; pages and notifications are counted by the worker that sent them, so those add up across
collectors.
"""

from __future__ import annotations

from grafanalib import core as g

from alerting.model import Severity
from dashboards import metrics as m
from dashboards.panels import (
    AMBER,
    GREEN,
    RED,
    SEL_ASSET,
    Layout,
    dashboard,
    stat,
    steps,
    table,
    timeseries,
    variable,
)

UID = "wardwatch-incidents"
SEVERITIES = tuple(s.value for s in Severity)  # critical (P1) ... warning (P4)
MTTA_STEPS = steps((None, GREEN), (5 * 60, AMBER), (15 * 60, RED))  # the first answer: minutes count
MTTR_STEPS = steps((None, GREEN), (4 * 3600, AMBER), (24 * 3600, RED))
SEL_INCIDENT = SEL_ASSET  # the incident's site and system labels, as the assets'
HOSPITAL_WIDE = "All sites and systems: the site and system variables do not apply"


def one_collector(metric: str, sel: str = SEL_INCIDENT) -> str:
    """A store-derived gauge for the selected sites and systems, one collector's series only."""
    return f"max without (instance, job) ({metric}{{{sel}}})"


def open_by(by: str) -> str:
    """Open incidents ``sum by (<by>)`` for the selected sites and systems, every value of ``<by>`` present (0
    where the selection has none: a tile stays green at 0, it does not say "No data")."""
    selected = f"sum by ({by}) ({one_collector(m.INCIDENTS_OPEN)})"
    return f"{selected} or {zeros(m.INCIDENTS_OPEN, by)}"


def open_with(severity: str) -> str:
    """Open incidents of one severity for the selected sites and systems, 0 when none."""
    sel = f'severity="{severity}", {SEL_INCIDENT}'
    return f"sum({one_collector(m.INCIDENTS_OPEN, sel)}) or vector(0)"


def zeros(metric: str, by: str) -> str:
    """0 for every value of ``<by>`` the collector exposes ``metric`` with (all sites: the filler, unfiltered)."""
    return f"0 * sum by ({by}) (max without (instance, job) ({metric}))"


def store_increase(metric: str, window: str, by: str) -> str:
    """``sum by (<by>)`` of a store-derived counter's increase over ``window`` for the selected sites and
    systems, one collector's series only."""
    return f"sum by ({by}) (max without (instance, job) (increase({metric}{{{SEL_INCIDENT}}}[{window}])))"


def mean_time(total: str, count: str, window: str) -> str:
    """Mean seconds per incident by severity over ``window`` from a summary's _sum and _count (none when no
    incident was counted: no 0/0)."""
    return f"{store_increase(total, window, 'severity')} / ({store_increase(count, window, 'severity')} > 0)"


def incident_variables() -> list[g.Template]:
    """``site`` and ``system`` from the incidents themselves (an incident's site need not be an asset's: an
    Alertmanager alert brings its own labels)."""
    return [
        variable("site", m.INCIDENTS_OPENED_TOTAL),
        variable("system", m.INCIDENTS_OPENED_TOTAL, depends='site=~"$site"'),
    ]


def build() -> g.Dashboard:
    lay = Layout()
    lay.row("Now")
    lay.add(
        stat(
            "Open incidents",
            [(open_with(sev), sev) for sev in SEVERITIES],
            thresholds=steps((None, GREEN), (1, RED)),
            description="Unresolved incidents of the selected sites and systems, by severity.",
        ),
        12,
        5,
    )
    lay.add(
        stat(
            "Alerts",
            [(f"sum by (phase) ({m.ALERTS})", "{{phase}}")],
            thresholds=steps((None, GREEN), (1, AMBER)),
            description="Alert instances the rules hold: pending (waiting out for:) and firing. "
            f"{HOSPITAL_WIDE}.",
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
            description=f"Who is on duty now, per team and escalation layer (from the roster). {HOSPITAL_WIDE}.",
        ),
        6,
        10,
    )
    lay.add(
        table(
            "Open by category",
            [(open_by("category"), "")],
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
            [(open_by("severity"), "{{severity}}")],
            stacked=True,
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Open incidents by category",
            [(open_by("category"), "{{category}}")],
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
            description="How often rules fire and resolve: a rising line is a noisy rule or a sick system. "
            f"{HOSPITAL_WIDE}.",
        ),
        24,
        8,
    )

    lay.row("Opened and resolved")
    for what, metric in (("Opened", m.INCIDENTS_OPENED_TOTAL), ("Resolved", m.INCIDENTS_RESOLVED_TOTAL)):
        lay.add(
            stat(
                f"{what} in the time range",
                [
                    (
                        f"{store_increase(metric, '$__range', 'severity')} or {zeros(metric, 'severity')}",
                        "{{severity}}",
                    )
                ],
                color_mode="value",
                decimals=0,
                description=f"Incidents {what.lower()} within the dashboard's time range, by severity, of the "
                "selected sites and systems.",
            ),
            12,
            4,
        )
    for what, metric in (("Opened", m.INCIDENTS_OPENED_TOTAL), ("Resolved", m.INCIDENTS_RESOLVED_TOTAL)):
        for by in ("severity", "category"):
            lay.add(
                timeseries(
                    f"{what} per hour by {by}",
                    [(store_increase(metric, "1h", by), f"{{{{{by}}}}}")],
                    bars=True,
                    stacked=True,
                    decimals=0,
                    description="An incident counts under the severity it had when it was opened (resolved: "
                    "when it was resolved).",
                ),
                12,
                8,
            )

    lay.row("Response times")
    lay.add(
        stat(
            "MTTA (time range)",
            [(mean_time(m.ACKNOWLEDGE_SUM, m.ACKNOWLEDGE_COUNT, "$__range"), "{{severity}}")],
            unit="s",
            thresholds=MTTA_STEPS,
            description="Mean time from opening to acknowledgement of the incidents acknowledged in the time "
            "range. Incidents resolved without an acknowledgement are not in it.",
            no_value="-",
        ),
        12,
        5,
    )
    lay.add(
        stat(
            "MTTR (time range)",
            [(mean_time(m.RESOLVE_SUM, m.RESOLVE_COUNT, "$__range"), "{{severity}}")],
            unit="s",
            thresholds=MTTR_STEPS,
            description="Mean time from opening to resolution of the incidents resolved in the time range, by "
            "people or by the rules when the problem went away.",
            no_value="-",
        ),
        12,
        5,
    )
    lay.add(
        timeseries(
            "MTTA and MTTR, rolling 24 h",
            [
                (mean_time(m.ACKNOWLEDGE_SUM, m.ACKNOWLEDGE_COUNT, "1d"), "MTTA {{severity}}"),
                (mean_time(m.RESOLVE_SUM, m.RESOLVE_COUNT, "1d"), "MTTR {{severity}}"),
            ],
            unit="s",
            description="Means over the 24 hours before each point.",
        ),
        24,
        8,
    )

    lay.row("Pages")
    pages = m.PAGES_TOTAL
    lay.add(
        table(
            "Pages per person (time range)",
            [
                (f"sum by (person) (increase({pages}[$__range]))", ""),
                (f'sum by (person) (increase({pages}{{result="delivered"}}[$__range]))', ""),
                (f'sum by (person) (increase({pages}{{result="failed"}}[$__range]))', ""),
            ],
            hide=("Time",),
            rename={
                "person": "Person",
                "Value #A": "Tries",
                "Value #B": "Delivered",
                "Value #C": "Not reached",
            },
            thresholds=steps((None, GREEN), (1, RED)),
            colour="Value #C",
            sort_by="Tries",
            description="Tries of pages per person (roster id), through any contact method; not reached = "
            f"every contact method failed. Progress messages to stakeholders are not pages. {HOSPITAL_WIDE}.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Pages per hour by person",
            [(f"sum by (person) (increase({pages}[1h]))", "{{person}}")],
            bars=True,
            stacked=True,
            description=f"The on-call load: page tries per hour, per person. {HOSPITAL_WIDE}.",
        ),
        16,
        8,
    )

    lay.row("Notifications")
    lay.add(
        stat(
            "Deliveries failed (24 h)",
            [(f'sum(increase({m.NOTIFICATIONS_TOTAL}{{result="failed"}}[24h]))', "failed")],
            thresholds=steps((None, GREEN), (1, RED)),
            description="Pages that exhausted every retry and contact method: someone was not reached. "
            f"{HOSPITAL_WIDE}.",
        ),
        6,
        8,
    )
    lay.add(
        timeseries(
            "Notifications by channel and result",
            [(f"sum by (channel, result) (increase({m.NOTIFICATIONS_TOTAL}[1h]))", "{{channel}} {{result}}")],
            bars=True,
            description="Tries per hour: delivered, retry, failover, failed, cancelled; by SMS, WeCom, DingTalk, "
            f"mail... {HOSPITAL_WIDE}.",
        ),
        18,
        8,
    )
    return dashboard(
        uid=UID,
        title="wardwatch — Incidents and duty",
        description="Open incidents, alerts and the duty roster. The site and system variables filter the "
        "incident panels; alerts, the roster, pages and notifications are hospital-wide.",
        layout=lay,
        templates=incident_variables(),
        tags=["incidents", "oncall"],
        time_from="now-7d",
    )
