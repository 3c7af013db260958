"""Dashboard JSON that Grafana accepts and that lays out cleanly: schema version, unique ids and uids,
every panel inside the 24-column grid with no overlaps, every panel with queries and the datasource."""

from __future__ import annotations

import itertools

import pytest

from dashboards.panels import DATASOURCE, GRID_COLUMNS, SCHEMA_VERSION
from tests.dashboards.expressions import dashboards, panels

DASHBOARDS = dashboards()
IDS = sorted(DASHBOARDS)
WALL_ROWS = 27  # grid units that fit a 1080p screen in kiosk mode without scrolling


def _boxes(dash: dict) -> list[tuple[str, int, int, int, int]]:
    return [
        (p["title"], p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"], p["gridPos"]["h"])
        for p in panels(dash)
    ]


def test_the_five_dashboards_exist_with_unique_uids():
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert sorted(uids) == sorted(
        [
            "wardwatch-wall",
            "wardwatch-hosts",
            "wardwatch-network",
            "wardwatch-storage-ups",
            "wardwatch-incidents",
        ]
    )


@pytest.mark.parametrize("name", IDS)
def test_schema_version_title_and_time(name: str):
    dash = DASHBOARDS[name]
    assert dash["schemaVersion"] == SCHEMA_VERSION
    assert dash["title"].startswith("wardwatch")
    assert dash["uid"] and len(dash["uid"]) <= 40  # Grafana's uid limit
    assert dash["time"]["to"] == "now"
    assert dash["refresh"]


@pytest.mark.parametrize("name", IDS)
def test_panel_ids_are_unique(name: str):
    ids = [p["id"] for p in panels(DASHBOARDS[name])]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", IDS)
def test_panels_fit_the_24_column_grid(name: str):
    for title, x, y, w, h in _boxes(DASHBOARDS[name]):
        assert x >= 0 and y >= 0 and w > 0 and h > 0, title
        assert x + w <= GRID_COLUMNS, f"{title}: x {x} + w {w} > {GRID_COLUMNS}"


@pytest.mark.parametrize("name", IDS)
def test_no_two_panels_overlap(name: str):
    overlaps = [
        (a[0], b[0])
        for a, b in itertools.combinations(_boxes(DASHBOARDS[name]), 2)
        if a[1] < b[1] + b[3] and b[1] < a[1] + a[3] and a[2] < b[2] + b[4] and b[2] < a[2] + a[4]
    ]
    assert overlaps == []


@pytest.mark.parametrize("name", IDS)
def test_every_panel_has_queries_and_the_datasource(name: str):
    for p in panels(DASHBOARDS[name]):
        if p["type"] == "row":
            continue
        assert p["datasource"] == DATASOURCE, p["title"]
        assert p["targets"], f"{p['title']}: no targets"
        for t in p["targets"]:
            assert t["expr"].strip(), p["title"]
            assert t["datasource"] == DATASOURCE, p["title"]
        ref_ids = [t["refId"] for t in p["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), p["title"]


@pytest.mark.parametrize("name", IDS)
def test_template_variables_use_the_datasource(name: str):
    for v in DASHBOARDS[name]["templating"]["list"]:
        assert v["datasource"] == DATASOURCE
        assert v["includeAll"] and v["allValue"] == ".*"


def test_wall_fits_one_screen_without_scrolling_and_is_dark_and_read_only():
    wall = DASHBOARDS["wardwatch-wall.json"]
    bottom = max(y + h for _, _, y, _, h in _boxes(wall))
    assert bottom <= WALL_ROWS
    assert all(p["type"] != "row" for p in wall["panels"])  # nothing to collapse on a wall
    assert wall["style"] == "dark"
    assert wall["editable"] is False
    alarms = [
        p
        for p in wall["panels"]
        if p["type"] == "stat" and ("down" in p["title"] or "incidents" in p["title"])
    ]
    assert len(alarms) == 4  # systems down, sites down, open incidents by severity and by category
    for p in alarms:  # a problem turns the whole tile red, visible across the room
        assert p["options"]["colorMode"] == "background", p["title"]
        colours = [s["color"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
        assert colours == ["green", "red"], p["title"]


@pytest.mark.parametrize("name", IDS)
def test_table_colour_overrides_name_a_shown_column(name: str):
    for p in panels(DASHBOARDS[name]):
        if p["type"] != "table":
            continue
        organize = next(t for t in p["transformations"] if t["id"] == "organize")["options"]
        shown_renamed = set(organize["renameByName"].values())
        for o in p["fieldConfig"]["overrides"]:
            column = o["matcher"]["options"]
            hidden = organize["excludeByName"].get(column, False)
            assert column in shown_renamed or (column == "Value" and not hidden), f"{p['title']}: {column}"
