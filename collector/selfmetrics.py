"""The collector's own health metrics, registered in the app's registry (never the global one)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collector import keys


@dataclass(frozen=True)
class SelfMetrics:
    reports: Counter
    reports_rejected: Counter
    report_seconds: Histogram
    scrape_seconds: Histogram
    start_time: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SelfMetrics:
        return cls(
            reports=Counter(
                "wardwatch_collector_reports",
                "Agent reports accepted, by where they landed in the state (latest, late, too_old, duplicate).",
                ["outcome"],
                registry=registry,
            ),
            reports_rejected=Counter(
                "wardwatch_collector_reports_rejected",
                "Agent reports rejected, by reason (unauthenticated, forbidden, invalid, too_large).",
                ["reason"],
                registry=registry,
            ),
            report_seconds=Histogram(
                "wardwatch_collector_report_duration_seconds",
                "Time to accept one agent report.",
                buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
                registry=registry,
            ),
            scrape_seconds=Histogram(
                "wardwatch_collector_exposition_duration_seconds",
                "Time to build the /metrics answer.",
                buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                registry=registry,
            ),
            start_time=Gauge(
                "wardwatch_collector_start_time_seconds",
                "Unix time the collector started.",
                registry=registry,
            ),
        )


SELF_METRICS = web.AppKey("self_metrics", SelfMetrics)


def setup(app: web.Application) -> None:
    metrics = SelfMetrics.create(app[keys.REGISTRY])
    metrics.start_time.set(app[keys.CLOCK].time())
    app[SELF_METRICS] = metrics
