"""The rule runner's metrics, registered in the app's registry (never the global one)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alerting.model import Category, Severity


class RunnerMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.evaluations = Counter(
            "wardwatch_rule_evaluations",
            "Rule evaluations, by what asked for them (tick, report, event).",
            ["trigger"],
            registry=registry,
        )
        self.duration = Histogram(
            "wardwatch_rule_evaluation_duration_seconds",
            "Time one evaluation of the rules took (pure part).",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.transitions = Counter(
            "wardwatch_alert_transitions", "Alert transitions, by kind.", ["kind"], registry=registry
        )
        self.errors = Counter(
            "wardwatch_rule_runner_errors",
            "Failures of the rule runner (store errors, unexpected exceptions), by stage.",
            ["stage"],
            registry=registry,
        )
        self.reload_failures = Counter(
            "wardwatch_rule_reload_failures",
            "Rule reloads rejected (the last good set stays).",
            registry=registry,
        )
        self.rules = Gauge("wardwatch_rules_loaded", "Rules in the set in use.", registry=registry)
        self.alerts = Gauge(
            "wardwatch_alerts", "Alert instances, by phase (pending, firing).", ["phase"], registry=registry
        )


class OpenIncidentsCollector(Collector):
    """``wardwatch_incidents_open{severity,category}`` from the counts the runner last read (no I/O here)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[Severity, Category], int] = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "wardwatch_incidents_open",
            "Unresolved incidents, by severity and category.",
            labels=["severity", "category"],
        )
        for severity in Severity:
            for category in Category:
                family.add_metric([severity.value, category.value], self.counts.get((severity, category), 0))
        yield family
