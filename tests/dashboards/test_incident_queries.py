"""The incident panels follow the ``site`` and ``system`` variables and take one collector's series (several
collectors sharing a store expose the same incidents); the panels on what has no site (the roster, pages,
notifications, alerts) do not filter by them, or they would go blank as soon as a site is chosen."""

from __future__ import annotations

import re

import pytest

from dashboards import metrics as m
from tests.dashboards.expressions import Query, dashboards, panel_queries

INCIDENT_METRICS = (
    m.INCIDENTS_OPEN,
    m.INCIDENTS_OPENED_TOTAL,
    m.INCIDENTS_RESOLVED_TOTAL,
    m.ACKNOWLEDGE_SUM,
    m.ACKNOWLEDGE_COUNT,
    m.RESOLVE_SUM,
    m.RESOLVE_COUNT,
    m.INCIDENT_OPEN_INFO,
)
SITELESS = (m.PAGES_TOTAL, m.NOTIFICATIONS_TOTAL, m.ONCALL_INFO, m.ALERTS, m.ALERT_TRANSITIONS)
# one collector's series of the selected sites and systems (a counter's increase inside the max)
FILTERED = re.compile(
    r"max without \(instance, job\) \((?:increase\()?(?P<metric>wardwatch_[a-z_]+)\{(?P<sel>[^}]*)\}"
)
# the zeros a tile falls back on where the selection has nothing (every site on purpose: only the label values)
FILLER = re.compile(
    r"0 \* sum by \(\w+\) \(max without \(instance, job\) \((?P<metric>wardwatch_[a-z_]+)\)\)"
)
SITE_SYSTEM = ('site=~"$site"', 'system=~"$system"')


def _uses(q: Query, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if re.search(rf"\b{n}\b", q.expr)]


INCIDENT_QUERIES = [q for q in panel_queries() if _uses(q, INCIDENT_METRICS)]


def test_incident_panels_are_on_the_wall_and_the_incidents_dashboard_which_have_site_and_system_variables():
    uids = {q.where.split(" / ")[0] for q in INCIDENT_QUERIES}
    assert uids == {"wardwatch-wall", "wardwatch-incidents"}
    for dash in dashboards().values():
        if dash["uid"] in uids:
            assert [v["name"] for v in dash["templating"]["list"]] == ["site", "system"], dash["uid"]


@pytest.mark.parametrize("q", INCIDENT_QUERIES, ids=lambda q: q.where)
def test_every_incident_query_filters_by_site_and_system_and_takes_one_collector(q: Query):
    for metric in _uses(q, INCIDENT_METRICS):
        filled = [f["metric"] for f in FILLER.finditer(q.expr)]
        rest = FILLER.sub("", q.expr)
        uses = len(re.findall(rf"\b{metric}\b", rest))
        filtered = [
            f
            for f in FILTERED.finditer(rest)
            if f["metric"] == metric and all(s in f["sel"] for s in SITE_SYSTEM)
        ]
        assert uses >= 1 and len(filtered) == uses, (
            f"{metric} unfiltered or summed across collectors: {q.expr}"
        )
        assert set(filled) <= {metric for metric in _uses(Query("", rest), INCIDENT_METRICS)}, q.expr


@pytest.mark.parametrize("q", [q for q in panel_queries() if _uses(q, SITELESS)], ids=lambda q: q.where)
def test_panels_on_what_has_no_site_do_not_filter_by_it(q: Query):
    assert "$site" not in q.expr and "$system" not in q.expr
