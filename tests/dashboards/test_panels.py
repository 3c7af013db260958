"""The shared helpers: the layout places panels in reading order inside 24 columns; variables and
thresholds come out as Grafana expects them."""

from __future__ import annotations

import json

import pytest
from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from dashboards.metrics import host, snmp
from dashboards.panels import GREEN, RED, Layout, stat, steps, table, variable


def _json(obj: object) -> dict:
    return json.loads(json.dumps(obj, cls=DashboardEncoder))


def _pos(panel: g.Panel) -> tuple[int, int, int, int]:
    p = panel.gridPos
    return (p.x, p.y, p.w, p.h)


def test_layout_wraps_at_24_columns_below_the_tallest_panel():
    lay = Layout()
    a = lay.add(stat("a", [("1", "")]), 16, 7)
    b = lay.add(stat("b", [("1", "")]), 8, 4)
    c = lay.add(stat("c", [("1", "")]), 12, 5)  # does not fit beside b: next line, below a (the taller)
    assert [_pos(p) for p in (a, b, c)] == [(0, 0, 16, 7), (16, 0, 8, 4), (0, 7, 12, 5)]
    assert [p.id for p in lay.panels] == [1, 2, 3]


def test_a_row_starts_a_new_line_and_takes_the_full_width():
    lay = Layout()
    lay.add(stat("a", [("1", "")]), 6, 3)
    row = lay.row("Section")
    after = lay.add(stat("b", [("1", "")]), 6, 3)
    assert _pos(row) == (0, 3, 24, 1)
    assert _pos(after) == (0, 4, 6, 3)


@pytest.mark.parametrize("width", [0, 25])
def test_layout_refuses_widths_outside_the_grid(width: int):
    with pytest.raises(ValueError, match="width"):
        Layout().add(stat("a", [("1", "")]), width, 3)


def test_variable_is_multi_select_with_all_as_regex_and_depends_on_the_others():
    v = _json(variable("host", "wardwatch_agent_up", depends='site=~"$site"'))
    assert v["query"] == 'label_values(wardwatch_agent_up{site=~"$site"}, host)'
    assert v["multi"] and v["includeAll"] and v["allValue"] == ".*"


def test_stat_thresholds_and_targets():
    panel = _json(stat("x", [("up", "{{host}}"), ("down", "")], thresholds=steps((None, GREEN), (1, RED))))
    assert [t["refId"] for t in panel["targets"]] == ["A", "B"]
    assert all(t["instant"] for t in panel["targets"])
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"value": None, "color": "green"},
        {"value": 1, "color": "red"},
    ]


def test_decimals_are_set_only_when_asked_for():
    assert _json(stat("x", [("up", "")]))["fieldConfig"]["defaults"].get("decimals") is None
    assert _json(stat("x", [("up", "")], decimals=0))["fieldConfig"]["defaults"]["decimals"] == 0


def test_table_columns_in_the_order_asked_for():
    organize = _json(table("t", [("a", "")], order=("number", "Value")))["transformations"][0]["options"]
    assert organize["indexByName"] == {"number": 0, "Value": 1}
    assert "indexByName" not in _json(table("t", [("a", "")]))["transformations"][0]["options"]


def test_table_with_two_queries_merges_them_before_organising():
    panel = _json(table("t", [("a", ""), ("b", "")]))
    assert [t["id"] for t in panel["transformations"]] == ["merge", "organize"]
    assert all(t["format"] == "table" for t in panel["targets"])


def test_metric_names_are_checked_against_the_code():
    assert host("wardwatch_cpu_usage_ratio") == "wardwatch_cpu_usage_ratio"
    assert snmp("wardwatch_snmp_if_in_octets_total") == "wardwatch_snmp_if_in_octets_total"
    with pytest.raises(KeyError):
        host("wardwatch_cpu_usage_percent")
    with pytest.raises(KeyError):
        snmp("wardwatch_snmp_if_in_bytes_total")
