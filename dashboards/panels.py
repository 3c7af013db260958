"""Shared panel helpers: one datasource, the template variables, thresholds, and a layout that places
panels on Grafana's 24-column grid so no dashboard module does coordinate arithmetic by hand.

Every helper returns grafanalib objects; ``Layout`` gives them ids and ``gridPos`` in reading order.
Queries use ``SEL_HOST`` / ``SEL_DEVICE`` so the variables filter every panel the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from grafanalib import core as g

# Provisioned by deploy/grafana/provisioning/datasources/wardwatch.yaml with this fixed uid.
DATASOURCE_UID = "wardwatch-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39  # Grafana 10.4 / 11: stat, timeseries and table panels with fieldConfig
GRID_COLUMNS = 24

# Label matchers every query carries (see VARIABLES).
SEL_ASSET = 'site=~"$site", system=~"$system"'
SEL_HOST = f'{SEL_ASSET}, host=~"$host"'
SEL_DEVICE = f'{SEL_ASSET}, device=~"$device"'

GREEN, AMBER, RED, BLUE, GREY = "green", "#EAB839", "red", "blue", "#808080"


@dataclass(frozen=True)
class Step:
    """A threshold step: from ``value`` upwards the colour is ``color`` (``None`` = the base)."""

    value: float | None
    color: str


def steps(*pairs: tuple[float | None, str]) -> list[Step]:
    return [Step(v, c) for v, c in pairs]


UP_DOWN = steps((None, RED), (1, GREEN))  # 0 red, 1 green
ZERO_GOOD = steps((None, GREEN), (1, RED))  # any count above zero is bad
RATIO_USAGE = steps((None, GREEN), (0.8, AMBER), (0.9, RED))


def _threshold_json(ts: Sequence[Step]) -> dict:
    return {"mode": "absolute", "steps": [{"value": s.value, "color": s.color} for s in ts]}


def target(
    expr: str, legend: str = "", *, instant: bool = False, table: bool = False, ref: str = "A"
) -> g.Target:
    return g.Target(
        expr=expr,
        legendFormat=legend,
        refId=ref,
        instant=instant,
        format="table" if table else "time_series",
        datasource=DATASOURCE,
    )


def _targets(queries: Sequence[tuple[str, str]], **kw: bool) -> list[g.Target]:
    return [target(e, legend, ref=chr(ord("A") + i), **kw) for i, (e, legend) in enumerate(queries)]


def _field_config(
    unit: str,
    thresholds: Sequence[Step],
    mappings: Sequence[dict] = (),
    *,
    lo: float | None,
    hi: float | None,
    decimals: int | None = None,
) -> dict:
    defaults: dict = {"unit": unit, "thresholds": _threshold_json(thresholds), "mappings": list(mappings)}
    if decimals is not None:
        defaults["decimals"] = decimals
    if lo is not None:
        defaults["min"] = lo
    if hi is not None:
        defaults["max"] = hi
    return {"defaults": defaults, "overrides": []}


def value_text(mapping: dict[int, tuple[str, str]] | dict[str, tuple[str, str]]) -> dict:
    """A value mapping: ``{1: ("UP", "green")}`` shows 1 as a green "UP" (text values too: ``{"major": ...}``)."""
    return {
        "type": "value",
        "options": {
            str(k): {"text": t, "color": c, "index": i} for i, (k, (t, c)) in enumerate(mapping.items())
        },
    }


UP_TEXT = value_text({0: ("DOWN", RED), 1: ("UP", GREEN)})


def stat(
    title: str,
    queries: Sequence[tuple[str, str]],
    *,
    unit: str = "none",
    thresholds: Sequence[Step] = (Step(None, GREEN),),
    mappings: Sequence[dict] = (),
    color_mode: str = "background",
    text_mode: str = "value_and_name",
    graph: bool = False,
    description: str = "",
    lo: float | None = None,
    hi: float | None = None,
    no_value: str = "0",
    decimals: int | None = None,
) -> g.Stat:
    """A big tile: the last value of each series, coloured by thresholds (readable across a room).
    ``decimals=0`` for counts that ``increase()`` extrapolates (1.07 incidents reads as 1)."""
    return g.Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries, instant=True),
        colorMode=color_mode,
        graphMode="area" if graph else "none",
        textMode=text_mode,
        reduceCalc="lastNotNull",
        format=unit,
        noValue=no_value,
        extraJson={
            "fieldConfig": _field_config(unit, thresholds, mappings, lo=lo, hi=hi, decimals=decimals),
            "options": {"justifyMode": "center", "wideLayout": True},
        },
    )


def timeseries(
    title: str,
    queries: Sequence[tuple[str, str]],
    *,
    unit: str = "short",
    thresholds: Sequence[Step] = (Step(None, GREEN),),
    stacked: bool = False,
    description: str = "",
    lo: float | None = None,
    hi: float | None = None,
    bars: bool = False,
    decimals: int | None = None,
) -> g.TimeSeries:
    return g.TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        unit=unit,
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else 10,
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none"},
        legendDisplayMode="table",
        legendPlacement="right",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        valueMin=lo,
        valueMax=hi,
        extraJson={"fieldConfig": _field_config(unit, thresholds, lo=lo, hi=hi, decimals=decimals)},
    )


def table(
    title: str,
    queries: Sequence[tuple[str, str]],
    *,
    unit: str = "none",
    thresholds: Sequence[Step] = (Step(None, GREEN),),
    mappings: Sequence[dict] = (),
    hide: Sequence[str] = ("Time", "__name__", "job", "instance"),
    rename: dict[str, str] | None = None,
    sort_by: str | None = None,
    descending: bool = True,
    description: str = "",
    colour: str | None = "Value",
    order: Sequence[str] = (),
) -> g.Table:
    """An instant table (one row per series, labels as columns). The ``colour`` column (by its name before
    renaming; ``None`` = none) gets a background in the threshold colour of its value (or of its value
    mapping). ``order`` names columns (before renaming) left to right; the others follow."""
    rename = rename or {}
    options: dict = {"excludeByName": dict.fromkeys(hide, True), "renameByName": rename}
    if order:
        options["indexByName"] = {name: i for i, name in enumerate(order)}
    organize = {"id": "organize", "options": options}
    transformations: list[dict] = [organize]
    if len(queries) > 1:
        transformations.insert(0, {"id": "merge", "options": {}})
    overrides = []
    if colour is not None:
        overrides.append(
            {
                "matcher": {"id": "byName", "options": rename.get(colour, colour)},
                "properties": [{"id": "custom.cellOptions", "value": {"type": "color-background"}}],
            }
        )
    panel = g.Table(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries, instant=True, table=True),
        transformations=transformations,
        unit=unit,
        mappings=list(mappings),
        extraJson={
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "thresholds": _threshold_json(thresholds),
                    "mappings": list(mappings),
                    "custom": {"cellOptions": {"type": "auto"}, "align": "auto"},
                },
                "overrides": overrides,
            }
        },
    )
    if sort_by is not None:
        panel.sortBy = [g.TableSortByField(displayName=sort_by, desc=descending)]
    return panel


# -- template variables ---------------------------------------------------------------------------


def variable(name: str, metric: str, label: str | None = None, *, depends: str = "") -> g.Template:
    """A multi-select variable filled from ``label_values(metric{depends}, label)``, "All" = ``.*``."""
    sel = f"{{{depends}}}" if depends else ""
    query = f"label_values({metric}{sel}, {label or name})"
    return g.Template(
        name=name,
        label=(label or name).capitalize(),
        query=query,
        dataSource=DATASOURCE,
        includeAll=True,
        multi=True,
        allValue=".*",
        default="All",
        refresh=2,  # on time range change: new hosts appear without a reload
        sort=1,
        type="query",
    )


def asset_variables(metric: str) -> list[g.Template]:
    return [
        variable("site", metric),
        variable("system", metric, depends='site=~"$site"'),
    ]


# -- layout ---------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Places panels left to right, wrapping at 24 columns, and numbers them 1, 2, 3..."""

    panels: list[g.Panel] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_h: int = 0

    def add(self, panel: g.Panel, w: int, h: int) -> g.Panel:
        if not 0 < w <= GRID_COLUMNS:
            raise ValueError(f"{panel.title}: width {w} is not within 1..{GRID_COLUMNS}")
        if self._x + w > GRID_COLUMNS:
            self.newline()
        panel.gridPos = g.GridPos(h=h, w=w, x=self._x, y=self._y)
        panel.id = len(self.panels) + 1
        self._x += w
        self._row_h = max(self._row_h, h)
        self.panels.append(panel)
        return panel

    def row(self, title: str) -> g.Panel:
        """A full-width, never-collapsed section header."""
        self.newline()
        panel = self.add(g.RowPanel(title=title, collapsed=False), GRID_COLUMNS, 1)
        self.newline()
        return panel

    def newline(self) -> None:
        if self._x:
            self._y += self._row_h
        self._x, self._row_h = 0, 0


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    templates: Sequence[g.Template] = (),
    tags: Sequence[str] = (),
    refresh: str = "30s",
    time_from: str = "now-6h",
) -> g.Dashboard:
    return g.Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=["wardwatch", *tags],
        panels=layout.panels,
        templating=g.Templating(list=list(templates)),
        refresh=refresh,
        time=g.Time(time_from, "now"),
        timezone="browser",
        editable=False,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        schemaVersion=SCHEMA_VERSION,
        style="dark",
    )
