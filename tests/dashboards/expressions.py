"""Every PromQL expression the dashboards and the recording rules hold, as data the tests walk."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from dashboards.build import build_all

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
# What Grafana puts in for the variables when "All" is selected, and its interval macros.
SUBSTITUTIONS = {
    "$site": ".*",
    "$system": ".*",
    "$host": ".*",
    "$device": ".*",
    "$__rate_interval": "1m",
    "$__range": "1h",
}
METRIC_NAME = re.compile(r"\b(wardwatch_[a-z0-9_]+|wardwatch:[a-z0-9_:]+)")
LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
LABEL_NAME = re.compile(r"[a-z_][a-z0-9_]*")
LABEL_VALUES = re.compile(
    r"^label_values\((?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<sel>\{.*\})?,\s*(?P<label>\w+)\)$"
)


@dataclass(frozen=True)
class Query:
    where: str  # "wardwatch-hosts / CPU busy / A", "rule wardwatch:host_trouble", "variable site"
    expr: str
    # Label names the panel shows from this query's series: {{label}} in its legend, the table's renamed columns.
    shows: tuple[str, ...] = ()

    def promql(self) -> str:
        out = self.expr
        for k in sorted(SUBSTITUTIONS, key=len, reverse=True):
            out = out.replace(k, SUBSTITUTIONS[k])
        return out


def dashboards() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in build_all().items()}


def panels(dash: dict) -> list[dict]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def panel_queries() -> list[Query]:
    out = []
    for dash in dashboards().values():
        for p in panels(dash):
            columns = _renamed_labels(p)
            for t in p.get("targets", []):
                shows = tuple(LEGEND_LABEL.findall(t.get("legendFormat", ""))) + columns
                out.append(Query(f"{dash['uid']} / {p['title']} / {t['refId']}", t["expr"], shows))
    return out


def _renamed_labels(panel: dict) -> tuple[str, ...]:
    """A table's columns renamed for display that are label names (not Grafana's Value, Time, Value #A...)."""
    for t in panel.get("transformations", []):
        if t["id"] == "organize":
            return tuple(k for k in t["options"].get("renameByName", {}) if LABEL_NAME.fullmatch(k))
    return ()


def variable_queries() -> list[tuple[str, str, str, str]]:
    """(where, metric, selector, label) of every label_values() template variable."""
    out = []
    for dash in dashboards().values():
        for v in dash["templating"]["list"]:
            match = LABEL_VALUES.match(v["query"])
            assert match, (
                f"{dash['uid']} variable {v['name']}: not label_values(metric{{...}}, label): {v['query']}"
            )
            out.append(
                (f"{dash['uid']} variable {v['name']}", match["metric"], match["sel"] or "", match["label"])
            )
    return out


def recording_rules() -> list[dict]:
    rules = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def rule_queries() -> list[Query]:
    return [Query(f"rule {r['record']}", r["expr"]) for r in recording_rules()]


def names_in(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))
