"""The rule runner's metrics, registered in the app's registry (never the global one).

The incident metrics come from the store (so every collector sharing a PostgreSQL store shows the same), read
by the runner (``RuleRunner.refresh_open_counts``) and held here: a scrape of /metrics never waits for the
database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from alerting.incidents import OPEN_STATUSES
from alerting.model import Category, Incident, Severity
from alerting.store import IncidentStore, IncidentTimes

INCIDENTS_OPEN = "wardwatch_incidents_open"
INCIDENTS_OPENED_TOTAL = "wardwatch_incidents_opened_total"
INCIDENTS_RESOLVED_TOTAL = "wardwatch_incidents_resolved_total"
ACKNOWLEDGE_SECONDS = "wardwatch_incident_acknowledge_seconds"  # a summary: _sum and _count
RESOLVE_SECONDS = "wardwatch_incident_resolve_seconds"
INCIDENT_OPEN_INFO = "wardwatch_incident_open_info"
# open incidents exposed as one series each (the wall's "newest incidents"), newest first: bounded cardinality
NEWEST_OPEN = 50
TITLE_MAX = 100  # characters of a title in a label


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
            INCIDENTS_OPEN,
            "Unresolved incidents, by severity and category.",
            labels=["severity", "category"],
        )
        for severity in Severity:
            for category in Category:
                family.add_metric([severity.value, category.value], self.counts.get((severity, category), 0))
        yield family


@dataclass(frozen=True)
class _Seen:
    """What has been counted of one incident."""

    opened_at: datetime
    acknowledged: bool
    resolved: bool


class IncidentStatsCollector(Collector):
    """Incidents opened, acknowledged and resolved, counted from what the store shows, and the newest open
    incidents as one series each.

    - ``wardwatch_incidents_opened_total{severity,category}`` / ``wardwatch_incidents_resolved_total{...}``:
      counters;
    - ``wardwatch_incident_acknowledge_seconds{severity}`` / ``wardwatch_incident_resolve_seconds{severity}``:
      summaries (``_sum``, ``_count``) of the time from opening to acknowledgement / resolution, so
      ``increase(_sum[r]) / increase(_count[r])`` is the MTTA / MTTR over ``r``;
    - ``wardwatch_incident_open_info{number,severity,category,status,title,asset}`` = the opened time (Unix
      seconds) of the ``NEWEST_OPEN`` most recently opened unresolved incidents.

    Counting: each ``refresh`` reads the incidents that may have changed (``store.incident_activity``: the
    unresolved ones, those opened within ``margin`` before the previous read, and those this collector saw
    unresolved) and counts each event once, the first time it is seen: an opening under the severity the
    incident had then, an acknowledgement or a resolution under its severity at that moment. The first read
    is the baseline: what happened before the collector started is not counted (the counters start at 0, an
    ordinary counter reset to Prometheus). Rows deleted behind the store's back (a retention purge) are
    simply no longer read, so nothing ever goes down. ``margin`` covers an opening committed a little after
    the time it carries (a slow transaction, another collector's clock)."""

    def __init__(self, *, newest: int = NEWEST_OPEN, margin: timedelta = timedelta(minutes=10)) -> None:
        self.newest_limit = newest
        self.margin = margin
        self.newest: list[Incident] = []
        self._seen: dict[str, _Seen] = {}  # unresolved ones, and those resolved that a read may still return
        self._last_read: datetime | None = None
        pairs = [(sev, cat) for sev in Severity for cat in Category]
        # every series exists from the start at 0, so Prometheus sees the first incident as an increase
        self.opened = dict.fromkeys(pairs, 0)
        self.resolved = dict.fromkeys(pairs, 0)
        self.acknowledge = {sev: [0.0, 0.0] for sev in Severity}  # count, sum of seconds
        self.resolve = {sev: [0.0, 0.0] for sev in Severity}
        self._lock = asyncio.Lock()

    async def refresh(self, store: IncidentStore, now: datetime) -> None:
        """Read and count (callers may overlap: reads are taken in turn, so an older read is never counted
        after a newer one)."""
        async with self._lock:
            since = (self._last_read or now) - self.margin
            rows = await store.incident_activity(opened_since=since, ids=list(self._seen))
            newest = await store.list(status=OPEN_STATUSES, limit=self.newest_limit)
            self.observe(rows, now)
            self.newest = newest

    def observe(self, rows: Iterable[IncidentTimes], now: datetime) -> None:
        """Count what ``rows`` show for the first time (the first call only takes note)."""
        counting = self._last_read is not None
        seen: dict[str, _Seen] = {}
        for r in rows:
            before = self._seen.get(r.id)
            if counting and before is None:
                self.opened[(r.severity, r.category)] += 1
            if counting and r.acknowledged_at is not None and not (before and before.acknowledged):
                _add(self.acknowledge[r.severity], r.acknowledged_at - r.opened_at)
            if counting and r.resolved_at is not None and not (before and before.resolved):
                self.resolved[(r.severity, r.category)] += 1
                _add(self.resolve[r.severity], r.resolved_at - r.opened_at)
            seen[r.id] = _Seen(r.opened_at, r.acknowledged_at is not None, r.resolved_at is not None)
        # the next read asks for openings since (now - margin): a resolved incident opened before that is not
        # returned again and can be forgotten; one not returned at all was deleted
        horizon = now - self.margin
        self._seen = {i: s for i, s in seen.items() if not (s.resolved and s.opened_at < horizon)}
        self._last_read = now

    def collect(self) -> Iterable[Metric]:
        labels = ["severity", "category"]
        opened = CounterMetricFamily(
            INCIDENTS_OPENED_TOTAL,
            "Incidents opened, by severity and category (counted from the store).",
            labels=labels,
        )
        resolved = CounterMetricFamily(
            INCIDENTS_RESOLVED_TOTAL,
            "Incidents resolved, by severity and category (counted from the store).",
            labels=labels,
        )
        for (sev, cat), n in self.opened.items():
            opened.add_metric([sev.value, cat.value], n)
        for (sev, cat), n in self.resolved.items():
            resolved.add_metric([sev.value, cat.value], n)
        yield opened
        yield resolved
        ack = SummaryMetricFamily(
            ACKNOWLEDGE_SECONDS,
            "Time from opening to acknowledgement of the incidents acknowledged, by severity.",
            labels=["severity"],
        )
        res = SummaryMetricFamily(
            RESOLVE_SECONDS,
            "Time from opening to resolution of the incidents resolved (by people or by the rules), by severity.",
            labels=["severity"],
        )
        for sev, (count, total) in self.acknowledge.items():
            ack.add_metric([sev.value], count_value=count, sum_value=total)
        for sev, (count, total) in self.resolve.items():
            res.add_metric([sev.value], count_value=count, sum_value=total)
        yield ack
        yield res
        info = GaugeMetricFamily(
            INCIDENT_OPEN_INFO,
            f"The {self.newest_limit} most recently opened unresolved incidents; the value is the opened time "
            "(Unix seconds).",
            labels=["number", "severity", "category", "status", "title", "asset"],
        )
        for inc in self.newest:
            info.add_metric(
                [
                    inc.number,
                    inc.severity.value,
                    inc.category.value,
                    inc.status.value,
                    _clip(inc.title),
                    _clip(", ".join(inc.assets)),
                ],
                inc.opened_at.timestamp(),
            )
        yield info


def _add(pair: list[float], elapsed: timedelta) -> None:
    pair[0] += 1
    pair[1] += max(0.0, elapsed.total_seconds())  # never negative, whatever two collectors' clocks say


def _clip(text: str) -> str:
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "…"
