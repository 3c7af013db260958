"""Every query of every panel, template variable and recording rule, against a real Prometheus scraping a
running collector fed with real data (tests/dashboards/live.py): it parses and returns data.

Queries whose data has no producer here yet are listed in PENDING with the reason; a pending query
that starts returning data fails too, so the list cannot go stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboards.expressions import (
    Query,
    names_in,
    panel_queries,
    recording_rules,
    rule_queries,
    variable_queries,
)
from tests.dashboards.live import LiveCollector, live_stack
from tests.support.prometheus import Prometheus

pytestmark = pytest.mark.slow

# where (dashboard uid / panel title / refId, or "rule <name>") -> why it has no data in this test
PENDING: dict[str, str] = {}
# The rule's incident (PortDown on the real agent) carries the agent's site and system; the events-API incident
# (critical, network_outage) has none. main-campus has assets (the SNMP devices) but no incident.
INCIDENT_SITE, INCIDENT_SYSTEM = "main", "EMR"
QUIET_SITE = "main-campus"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveCollector, Prometheus]]:
    tmp: Path = tmp_path_factory.mktemp("live")
    with live_stack(tmp) as running:
        yield running


@pytest.fixture
def prom(stack: tuple[LiveCollector, Prometheus]) -> Prometheus:
    return stack[1]


def _check(prom: Prometheus, queries: list[Query]) -> list[str]:
    """Problems, one line each: a query Prometheus rejects, an empty one, or a pending one with data."""
    problems = []
    for q in queries:
        try:
            result = prom.query(q.promql())  # asserts status == success: the PromQL parses
        except Exception as err:  # every failure is reported, not just the first
            problems.append(f"{q.where}: Prometheus rejected {q.promql()!r}: {err}")
            continue
        if q.where in PENDING:
            if result:
                problems.append(f"{q.where}: returns data now; remove it from PENDING ({PENDING[q.where]})")
        elif not result:
            problems.append(f"{q.where}: no data for {q.promql()!r}")
    return problems


def _settled(prom: Prometheus) -> None:
    """The data the slowest producers feed is in: rules evaluated on it, the incident counted."""
    for sentinel in (
        "wardwatch:filesystem_days_until_full",
        "wardwatch:asset_trouble",
        "wardwatch:device_trouble",
        'wardwatch_incidents_open{severity="major", category="system_failure"} > 0',
        "wardwatch_alert_transitions_total",
        'count_over_time(wardwatch_notifications_total{channel="wecom", result="delivered"}[1m]) > 1',
        'count_over_time(wardwatch_notifications_total{channel="sms", result="failed"}[1m]) > 1',
        'count_over_time(wardwatch_pages_total{person="li-na", result="delivered"}[1m]) > 1',
        'count_over_time(wardwatch_pages_total{person="he-ping", result="failed"}[1m]) > 1',
        'wardwatch_incident_acknowledge_seconds_count{severity="critical"} > 0',
        'wardwatch_incidents_resolved_total{severity="critical", category="network_outage"} > 0',
        # the rule's incident under its asset's site and system, a pair new since start-up: counted
        f'increase(wardwatch_incidents_opened_total{{site="{INCIDENT_SITE}", system="{INCIDENT_SYSTEM}"}}[1h]) > 0',
    ):
        prom.wait_for(sentinel, timeout=20)


def test_pending_list_names_real_queries():
    wheres = {q.where for q in panel_queries() + rule_queries()}
    assert sorted(set(PENDING) - wheres) == []


def test_every_panel_query_parses_and_returns_data(prom: Prometheus):
    _settled(prom)
    problems = _check(prom, panel_queries())
    assert not problems, "\n".join(problems)


def test_every_label_a_legend_or_table_column_shows_is_in_its_query_results(prom: Prometheus):
    """A legend's {{if_name}} or a table's renamed column names a label some returned series carries: a label
    renamed in the profiles but not in a panel would show blank, not fail."""
    _settled(prom)
    problems = []
    for q in panel_queries():
        if not q.shows or q.where in PENDING:
            continue
        series = prom.query(q.promql())
        for label in q.shows:
            if not any(s["metric"].get(label) for s in series):
                problems.append(f"{q.where}: no series has {label!r} ({q.promql()!r})")
    assert not problems, "\n".join(problems)


def test_every_recording_rule_parses_and_returns_data(prom: Prometheus):
    _settled(prom)
    problems = _check(prom, rule_queries())
    # and Prometheus really evaluates the rule (the recorded series exists), not just the expression
    for q in rule_queries():
        record = q.where.removeprefix("rule ")
        if q.where not in PENDING and not prom.query(record):
            problems.append(f"{q.where}: Prometheus recorded nothing (rule file not loaded?)")
    assert not problems, "\n".join(problems)


def test_every_template_variable_has_values(prom: Prometheus):
    _settled(prom)
    problems = []
    for where, metric, sel, label in variable_queries():
        expr = Query(where, f"count by ({label}) ({metric}{sel})").promql()
        values = [s["metric"].get(label, "") for s in prom.query(expr)]
        if not any(values):
            problems.append(f"{where}: no {label} values in {metric}")
    assert not problems, "\n".join(problems)


def test_every_metric_name_a_panel_or_rule_uses_is_declared_by_a_module(stack):
    collector, _prom = stack
    declared = collector.declared_names() | {r["record"] for r in recording_rules()}
    used: dict[str, set[str]] = {}
    for q in panel_queries() + rule_queries():
        for name in names_in(q.expr):
            used.setdefault(name, set()).add(q.where)
    for where, metric, sel, _label in variable_queries():
        for name in names_in(metric + sel):
            used.setdefault(name, set()).add(where)
    undeclared = {name: sorted(wheres) for name, wheres in used.items() if name not in declared}
    assert undeclared == {}


def test_every_recording_rule_is_used_by_a_dashboard_or_another_rule():
    exprs = [q.expr for q in panel_queries()] + [r["expr"] for r in recording_rules()]
    exprs += [metric for _, metric, _, _ in variable_queries()]
    unused = [
        r["record"] for r in recording_rules() if not any(r["record"] in e for e in exprs if e != r["expr"])
    ]
    assert unused == []


def _at(prom: Prometheus, where: str, site: str, system: str = ".*") -> dict[str, float]:
    """The panel query ``where`` with these variable values: legend-less values by their labels' text."""
    (q,) = [q for q in panel_queries() if q.where == where]
    expr = Query(where, q.expr.replace("$site", site).replace("$system", system)).promql()
    return {
        ",".join(f"{k}={v}" for k, v in sorted(s["metric"].items())): float(s["value"][1])
        for s in prom.query(expr)
    }


def test_incident_panels_follow_the_site_and_system_variables(prom: Prometheus):
    """With a site chosen, the wall's incident tiles, its newest incidents and the incidents dashboard show that
    site's incidents; "All" (.*) also shows the incident that has no site."""
    _settled(prom)
    tile = "wardwatch-wall / Open incidents / {}"  # A..D: critical, major, minor, warning
    assert _at(prom, tile.format("B"), INCIDENT_SITE, INCIDENT_SYSTEM)[""] >= 1  # the rule's major incident
    assert _at(prom, tile.format("B"), INCIDENT_SITE, "HIS") == {"": 0}  # the same site, another system
    for ref in "ABCD":  # a site without incidents: every tile at 0 (green), not "No data"
        assert _at(prom, tile.format(ref), QUIET_SITE) == {"": 0}, ref
    by_category = _at(prom, "wardwatch-wall / Open incidents by category / A", QUIET_SITE)
    assert len(by_category) == 5 and set(by_category.values()) == {0}

    newest = "wardwatch-wall / Newest incidents / A"
    assert _at(prom, newest, QUIET_SITE) == {}
    rows = _at(prom, newest, INCIDENT_SITE, INCIDENT_SYSTEM)
    here = (f"site={INCIDENT_SITE},", f"system={INCIDENT_SYSTEM},")
    assert rows and all(all(h in r for h in here) for r in rows), rows

    opened = "wardwatch-incidents / Opened in the time range / A"
    everywhere, at_site = _at(prom, opened, ".*"), _at(prom, opened, INCIDENT_SITE)
    assert everywhere["severity=critical"] > 0  # the events-API incident, without a site: under "All" only
    assert at_site["severity=critical"] == 0 and at_site["severity=major"] > 0
    mttr = (
        "wardwatch-incidents / MTTR (time range) / A"  # the summaries follow too: only "All" has one resolved
    )
    assert "severity=critical" in _at(prom, mttr, ".*")
    assert "severity=critical" not in _at(prom, mttr, INCIDENT_SITE)
