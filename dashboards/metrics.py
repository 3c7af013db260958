"""The metric names the dashboards query, taken from the modules that declare them.

Agent metrics come from ``collector.host_metrics``; SNMP metrics from the shipped device profiles
(``collector/snmp/profiles/*.yaml``); the collector's and alerting's own metrics are named where they are
registered (prometheus-client objects), so they are listed here and ``tests/dashboards`` checks every name a
panel uses against what a running collector declares. A name that no module declares fails the build here
(``host``/``snmp``) or the tests (the rest).
"""

from __future__ import annotations

from functools import cache

from alerting.notify.outbox import NOTIFICATIONS_TOTAL, PAGES_TOTAL
from alerting.rule_metrics import (
    ACKNOWLEDGE_SECONDS,
    INCIDENT_OPEN_INFO,
    INCIDENTS_OPEN,
    INCIDENTS_OPENED_TOTAL,
    INCIDENTS_RESOLVED_TOTAL,
    RESOLVE_SECONDS,
)
from collector.host_metrics import AGENT_CLOCK_SKEW, AGENT_INFO, AGENT_LAST_REPORT, AGENT_UP, HOST_METRICS
from collector.snmp.profiles import load_profiles

__all__ = [
    "ACKNOWLEDGE_COUNT",
    "ACKNOWLEDGE_SUM",
    "AGENT_CLOCK_SKEW",
    "AGENT_INFO_EXPOSED",
    "AGENT_LAST_REPORT",
    "AGENT_UP",
    "ALERTS",
    "ALERT_TRANSITIONS",
    "INCIDENTS_OPEN",
    "INCIDENTS_OPENED_TOTAL",
    "INCIDENTS_RESOLVED_TOTAL",
    "INCIDENT_OPEN_INFO",
    "NOTIFICATIONS_TOTAL",
    "ONCALL_INFO",
    "PAGES_TOTAL",
    "RESOLVE_COUNT",
    "RESOLVE_SUM",
    "SNMP_LAST_ERROR",
    "SNMP_POLL_DURATION",
    "SNMP_UP",
    "host",
    "snmp",
]

AGENT_INFO_EXPOSED = f"{AGENT_INFO}_info"  # an info metric is exposed with the _info suffix

# prometheus-client objects (exposed names): alerting/rule_metrics.py (above, and these), alerting/roster_api.py
ACKNOWLEDGE_SUM, ACKNOWLEDGE_COUNT = f"{ACKNOWLEDGE_SECONDS}_sum", f"{ACKNOWLEDGE_SECONDS}_count"  # summaries
RESOLVE_SUM, RESOLVE_COUNT = f"{RESOLVE_SECONDS}_sum", f"{RESOLVE_SECONDS}_count"
ALERTS = "wardwatch_alerts"
ALERT_TRANSITIONS = "wardwatch_alert_transitions_total"
ONCALL_INFO = "wardwatch_oncall_info"
# collector/snmp/poller.py SnmpStatusCollector
SNMP_UP = "wardwatch_snmp_up"
SNMP_POLL_DURATION = "wardwatch_snmp_poll_duration_seconds"
SNMP_LAST_ERROR = "wardwatch_snmp_last_error_info"


def host(name: str) -> str:
    """An agent metric name; raises if ``collector.host_metrics.HOST_METRICS`` does not declare it."""
    if name not in HOST_METRICS:
        raise KeyError(f"{name} is not in collector.host_metrics.HOST_METRICS")
    return name


@cache
def _snmp_metrics() -> frozenset[str]:
    """Every metric name a shipped profile declares (info columns are named ``*_info`` there)."""
    return frozenset(c.metric for profile in load_profiles().values() for c in profile.columns())


def snmp(name: str) -> str:
    """An SNMP metric name; raises if no shipped profile (collector/snmp/profiles/*.yaml) declares it."""
    if name not in _snmp_metrics():
        raise KeyError(f"{name} is declared by no profile in collector/snmp/profiles/")
    return name
