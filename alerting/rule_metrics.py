"""The rule runner's metrics, registered in the app's registry (never the global one).

The incident metrics come from the store (so every collector sharing a PostgreSQL store shows the same), read
by the runner (``RuleRunner.refresh_open_counts``) and held here: a scrape of /metrics never waits for the
database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from alerting.incidents import OPEN_STATUSES
from alerting.model import Category, Incident, Severity
from alerting.store import IncidentGroup, IncidentStore, IncidentTimes

log = logging.getLogger(__name__)

INCIDENTS_OPEN = "wardwatch_incidents_open"
INCIDENTS_OPENED_TOTAL = "wardwatch_incidents_opened_total"
INCIDENTS_RESOLVED_TOTAL = "wardwatch_incidents_resolved_total"
ACKNOWLEDGE_SECONDS = "wardwatch_incident_acknowledge_seconds"  # a summary: _sum and _count
RESOLVE_SECONDS = "wardwatch_incident_resolve_seconds"
INCIDENT_OPEN_INFO = "wardwatch_incident_open_info"
# open incidents exposed as one series each (the wall's "newest incidents"), newest first: bounded cardinality
NEWEST_OPEN = 50
TITLE_MAX = 100  # characters of a title in a label
# (site, system) pairs an incident family has series for: bounded whatever labels incidents bring (a manual
# report's free-text system, an Alertmanager alert's labels); the pairs after these are exposed as OVERFLOW
MAX_PLACES = 100
OVERFLOW = "(other)"
Place = tuple[str, str]  # an incident's site and system labels, "" when it has none
NOWHERE: Place = ("", "")


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


class _Places:
    """The (site, system) pairs one collector exposes series for, in the order first seen: ``NOWHERE``
    (incidents without a site or system) from the start, then each pair an incident showed, never forgotten
    while the process runs (a pair that goes quiet shows 0, it does not vanish). After ``limit`` pairs, new
    ones are folded into (``OVERFLOW``, ``OVERFLOW``) and a warning is logged once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.known: dict[Place, None] = {NOWHERE: None}  # a dict: ordered
        self._warned = False

    def place(self, site: str, system: str) -> Place:
        """Where to count an incident with these labels (registering the pair if it is new)."""
        place = (site, system)
        if place in self.known:
            return place
        if len(self.known) >= self.limit:
            if not self._warned:
                self._warned = True
                log.warning(
                    "more than %d (site, system) pairs on incidents: the metrics count the others under "
                    "site=system=%r (first one folded: site=%r, system=%r)",
                    self.limit,
                    OVERFLOW,
                    site,
                    system,
                )
            place = (OVERFLOW, OVERFLOW)
        self.known[place] = None
        return place

    def __iter__(self) -> Iterator[Place]:
        return iter(list(self.known))


class OpenIncidentsCollector(Collector):
    """``wardwatch_incidents_open{site,system,severity,category}`` from the counts the runner last read (no I/O
    here): every severity and category of every known (site, system) pair, 0 where there are none."""

    def __init__(self, *, max_places: int = MAX_PLACES) -> None:
        self.places = _Places(max_places)
        self._counts: dict[tuple[Place, Severity, Category], int] = {}

    @property
    def counts(self) -> dict[tuple[Place, Severity, Category], int]:
        return self._counts

    @counts.setter
    def counts(self, groups: Mapping[IncidentGroup, int]) -> None:
        """``store.count_open_by()``'s answer."""
        counts: dict[tuple[Place, Severity, Category], int] = {}
        for g, n in groups.items():
            k = (self.places.place(g.site, g.system), g.severity, g.category)
            counts[k] = counts.get(k, 0) + n
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            INCIDENTS_OPEN,
            "Unresolved incidents, by site, system, severity and category.",
            labels=["site", "system", "severity", "category"],
        )
        counts = self._counts
        for place in self.places:
            for severity in Severity:
                for category in Category:
                    n = counts.get((place, severity, category), 0)
                    family.add_metric([*place, severity.value, category.value], n)
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

    - ``wardwatch_incidents_opened_total{site,system,severity,category}`` /
      ``wardwatch_incidents_resolved_total{...}``: counters;
    - ``wardwatch_incident_acknowledge_seconds{site,system,severity}`` /
      ``wardwatch_incident_resolve_seconds{...}``: summaries (``_sum``, ``_count``) of the time from opening to
      acknowledgement / resolution, so ``increase(_sum[r]) / increase(_count[r])`` is the MTTA / MTTR over ``r``;
    - ``wardwatch_incident_open_info{number,severity,category,status,title,asset,site,system}`` = the opened
      time (Unix seconds) of the ``NEWEST_OPEN`` most recently opened unresolved incidents.

    ``site`` and ``system`` are the incident's labels ("" when it has none, which Prometheus stores as no
    label); the counters and summaries have series for every (site, system) pair seen (``_Places``).

    Counting: each ``refresh`` reads the incidents that may have changed (``store.incident_activity``: the
    unresolved ones, those opened within ``margin`` before the previous read, and those this collector saw
    unresolved) and counts each event once, the first time it is seen: an opening under the severity the
    incident had then, an acknowledgement or a resolution under its severity at that moment. The first read
    is the baseline: what happened before the collector started is not counted (the counters start at 0, an
    ordinary counter reset to Prometheus). Rows deleted behind the store's back (a retention purge) are
    simply no longer read, so nothing ever goes down. ``margin`` covers an opening committed a little after
    the time it carries (a slow transaction, another collector's clock).

    A (site, system) pair seen for the first time is exposed at 0 by the first scrape after it appeared and
    with its counts from the next one on, so Prometheus has the 0 that ``increase()`` needs to count the
    incident that brought the pair (a series born at 1 would not be counted)."""

    def __init__(
        self,
        *,
        newest: int = NEWEST_OPEN,
        margin: timedelta = timedelta(minutes=10),
        max_places: int = MAX_PLACES,
    ) -> None:
        self.newest_limit = newest
        self.margin = margin
        self.newest: list[Incident] = []
        self.places = _Places(max_places)
        self._shown: set[Place] = set()  # pairs a scrape has seen (at 0)
        self._seen: dict[str, _Seen] = {}  # unresolved ones, and those resolved that a read may still return
        self._last_read: datetime | None = None
        self.opened: dict[tuple[Place, Severity, Category], int] = {}  # absent = 0
        self.resolved: dict[tuple[Place, Severity, Category], int] = {}
        self.acknowledge: dict[tuple[Place, Severity], list[float]] = {}  # count, sum of seconds
        self.resolve: dict[tuple[Place, Severity], list[float]] = {}
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
            place = self.places.place(r.site, r.system)
            before = self._seen.get(r.id)
            if counting and before is None:
                _inc(self.opened, (place, r.severity, r.category))
            if counting and r.acknowledged_at is not None and not (before and before.acknowledged):
                _add(self.acknowledge, (place, r.severity), r.acknowledged_at - r.opened_at)
            if counting and r.resolved_at is not None and not (before and before.resolved):
                _inc(self.resolved, (place, r.severity, r.category))
                _add(self.resolve, (place, r.severity), r.resolved_at - r.opened_at)
            seen[r.id] = _Seen(r.opened_at, r.acknowledged_at is not None, r.resolved_at is not None)
        # the next read asks for openings since (now - margin): a resolved incident opened before that is not
        # returned again and can be forgotten; one not returned at all was deleted
        horizon = now - self.margin
        self._seen = {i: s for i, s in seen.items() if not (s.resolved and s.opened_at < horizon)}
        self._last_read = now

    def collect(self) -> Iterable[Metric]:
        places = list(self.places)
        shown = self._shown
        labels = ["site", "system", "severity", "category"]
        opened = CounterMetricFamily(
            INCIDENTS_OPENED_TOTAL,
            "Incidents opened, by site, system, severity and category (counted from the store).",
            labels=labels,
        )
        resolved = CounterMetricFamily(
            INCIDENTS_RESOLVED_TOTAL,
            "Incidents resolved, by site, system, severity and category (counted from the store).",
            labels=labels,
        )
        ack = SummaryMetricFamily(
            ACKNOWLEDGE_SECONDS,
            "Time from opening to acknowledgement of the incidents acknowledged, by site, system and severity.",
            labels=["site", "system", "severity"],
        )
        res = SummaryMetricFamily(
            RESOLVE_SECONDS,
            "Time from opening to resolution of the incidents resolved (by people or by the rules), by site, "
            "system and severity.",
            labels=["site", "system", "severity"],
        )
        for place in places:
            counted = place in shown  # a new pair: its first scrape shows 0 (see the class docstring)
            for sev in Severity:
                for cat in Category:
                    k = (place, sev, cat)
                    opened.add_metric([*place, sev.value, cat.value], self.opened.get(k, 0) if counted else 0)
                    resolved.add_metric(
                        [*place, sev.value, cat.value], self.resolved.get(k, 0) if counted else 0
                    )
                a_count, a_sum = self.acknowledge.get((place, sev), (0.0, 0.0)) if counted else (0.0, 0.0)
                r_count, r_sum = self.resolve.get((place, sev), (0.0, 0.0)) if counted else (0.0, 0.0)
                ack.add_metric([*place, sev.value], count_value=a_count, sum_value=a_sum)
                res.add_metric([*place, sev.value], count_value=r_count, sum_value=r_sum)
        shown.update(places)
        yield opened
        yield resolved
        yield ack
        yield res
        info = GaugeMetricFamily(
            INCIDENT_OPEN_INFO,
            f"The {self.newest_limit} most recently opened unresolved incidents; the value is the opened time "
            "(Unix seconds).",
            labels=["number", "severity", "category", "status", "title", "asset", "site", "system"],
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
                    _clip(inc.labels.get("site", "")),
                    _clip(inc.labels.get("system", "")),
                ],
                inc.opened_at.timestamp(),
            )
        yield info


def _inc(counts: dict[tuple[Place, Severity, Category], int], key: tuple[Place, Severity, Category]) -> None:
    counts[key] = counts.get(key, 0) + 1


def _add(
    summaries: dict[tuple[Place, Severity], list[float]], key: tuple[Place, Severity], elapsed: timedelta
) -> None:
    pair = summaries.setdefault(key, [0.0, 0.0])
    pair[0] += 1
    pair[1] += max(0.0, elapsed.total_seconds())  # never negative, whatever two collectors' clocks say


def _clip(text: str) -> str:
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "…"
