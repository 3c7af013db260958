"""``GET /metrics``: the state, translated into Prometheus metric families on each scrape.

``StateCollector.collect()`` reads the state only (no I/O, no awaits): it is called on the event
loop by prometheus-client's aiohttp handler. Every series carries its source's identity
(``host=`` for agents, ``device=`` for SNMP gear) and asset labels (site, system, role, ...).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from alerting.clock import Clock
from collector import keys
from collector.catalog import MetricCatalog, MetricType
from collector.host_metrics import AGENT_CLOCK_SKEW, AGENT_INFO, AGENT_LAST_REPORT, AGENT_UP
from collector.selfmetrics import SELF_METRICS
from collector.state import SourceKind, State

IDENTITY_LABEL = {SourceKind.AGENT: "host", SourceKind.SNMP: "device"}


class StateCollector(Collector):
    def __init__(
        self, state: State, catalog: MetricCatalog, clock: Clock, *, stale_after_intervals: float
    ) -> None:
        self._state = state
        self._catalog = catalog
        self._clock = clock
        self._stale_after = stale_after_intervals

    def collect(self) -> Iterable[Metric]:
        yield from self._agent_families()
        yield from self._sample_families()

    def _agent_families(self) -> Iterator[Metric]:
        now = self._clock.time()
        up: list[tuple[dict[str, str], float]] = []
        last: list[tuple[dict[str, str], float]] = []
        skew: list[tuple[dict[str, str], float]] = []
        info: list[tuple[dict[str, str], float]] = []
        for src in self._state.sources(SourceKind.AGENT):
            labels = {IDENTITY_LABEL[src.kind]: src.name, **src.labels}
            up.append((labels, 1.0 if src.is_up(now, stale_after_intervals=self._stale_after) else 0.0))
            if src.last_seen is not None:
                last.append((labels, src.last_seen))
            if src.clock_skew_seconds is not None:
                skew.append((labels, src.clock_skew_seconds))
            info.append(({**labels, "version": src.info.get("version", "")}, 1.0))
        g = MetricType.GAUGE
        yield _family(AGENT_UP, g, "1 while the agent's newest report is fresh (within its stale limit).", up)
        yield _family(AGENT_LAST_REPORT, g, "Collector time the agent's newest report arrived.", last)
        yield _family(AGENT_CLOCK_SKEW, g, "Agent clock minus collector clock when it last sent.", skew)
        yield _family(AGENT_INFO, MetricType.INFO, "The agent's version.", info)

    def _sample_families(self) -> Iterator[Metric]:
        by_name: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for src in self._state.sources():
            snap = src.latest()
            if snap is None:
                continue
            base = {IDENTITY_LABEL[src.kind]: src.name, **src.labels}
            for (name, pairs), value in snap.samples.items():
                labels = dict(base)
                labels.update(pairs)
                by_name[name].append((labels, value))
        for name, rows in by_name.items():
            info = self._catalog.get(name)
            if info is None:
                continue  # undeclared names are a programming error caught by tests, not exposed
            yield _family(name, info.type, info.help, rows)


def _family(name: str, type_: MetricType, help_: str, rows: list[tuple[dict[str, str], float]]) -> Metric:
    if type_ is MetricType.COUNTER:
        fam: Metric = CounterMetricFamily(name, help_)
        sample_name = fam.name + "_total"
    elif type_ is MetricType.INFO:
        fam = InfoMetricFamily(name, help_)
        sample_name = fam.name + "_info"
    else:
        fam = GaugeMetricFamily(name, help_)
        sample_name = name
    fam.samples = [Sample(sample_name, labels, value) for labels, value in rows]
    return fam


async def metrics_handler(request: web.Request) -> web.StreamResponse:
    metrics = request.app[SELF_METRICS]
    with metrics.scrape_seconds.time():
        return await request.app[_HANDLER](request)


_HANDLER = web.AppKey("metrics_handler", object)


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    registry = app[keys.REGISTRY]
    registry.register(
        StateCollector(
            app[keys.STATE],
            app[keys.CATALOG],
            app[keys.CLOCK],
            stale_after_intervals=settings.state.stale_after_intervals,
        )
    )
    app[_HANDLER] = make_aiohttp_handler(registry)
    app.router.add_get("/metrics", metrics_handler)
