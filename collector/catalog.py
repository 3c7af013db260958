"""Metric metadata: the type and help of every metric name the state may hold.

Host metrics are declared in ``collector.host_metrics``; SNMP profiles declare theirs when loaded.
Exposition reads the catalog to type each family; dashboards import the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MetricType(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    type: MetricType
    help: str


class MetricCatalog:
    def __init__(self) -> None:
        self._by_name: dict[str, MetricInfo] = {}

    def declare(self, name: str, type: MetricType, help: str) -> MetricInfo:
        if not name.startswith("wardwatch_"):
            raise ValueError(f"metric {name!r} must start with wardwatch_")
        if type is MetricType.COUNTER and not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end with _total")
        known = self._by_name.get(name)
        if known is not None and known.type is not type:
            raise ValueError(f"metric {name!r} declared as {known.type} and as {type}")
        info = known or MetricInfo(name, type, help)
        self._by_name[name] = info
        return info

    def get(self, name: str) -> MetricInfo | None:
        return self._by_name.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return sorted(self._by_name)
