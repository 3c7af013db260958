"""/metrics exposition time for 1,000 agents' state (~100 series each), side by side with the
same data rendered through prometheus-client's custom-collector path (``*MetricFamily`` +
``generate_latest``), the usual way to write an exporter in Python.

    .venv/bin/python -m bench.exposition [--agents 1000] [--runs 5]

"cold" renders snapshots that nobody has read yet (each agent sent a new report since the last
scrape: the steady state when agents report as often as Prometheus scrapes); "warm" re-renders.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from functools import partial

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from agent.wire import Report
from alerting.clock import FakeClock
from bench.ingest import report
from collector.catalog import MetricCatalog, MetricType
from collector.exposition import StateRenderer, declare_agent_metrics
from collector.host_metrics import declare_host_metrics, flatten_report
from collector.state import Snapshot, SourceKind, State


def build_state(agents: int, ts: float, catalog: MetricCatalog) -> State:
    state = State()
    for i in range(agents):
        r = Report.model_validate(report(f"host-{i:05d}", ts, i))
        src = state.upsert_source(SourceKind.AGENT, r.agent.host, labels=r.agent.labels, interval_seconds=15)
        state.record(src, Snapshot(ts, ts, flatten=partial(flatten_report, r), payload=r))
    return state


class ClientPythonCollector:
    """The peer: the same state through prometheus-client metric families."""

    def __init__(self, state: State, catalog: MetricCatalog) -> None:
        self.state, self.catalog = state, catalog

    def collect(self):
        rows = defaultdict(list)
        for src in self.state.sources():
            base = {"host": src.name, **src.labels}
            for (name, pairs), value in src.latest().samples.items():
                rows[name].append(({**base, **dict(pairs)}, value))
        for name, items in rows.items():
            info = self.catalog.get(name)
            labelnames = list(items[0][0])
            fam = (CounterMetricFamily if info.type is MetricType.COUNTER else GaugeMetricFamily)(
                name, info.help, labels=labelnames
            )
            for labels, value in items:
                fam.add_metric([labels.get(k, "") for k in labelnames], value)
            yield fam


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    catalog = MetricCatalog()
    declare_host_metrics(catalog)
    declare_agent_metrics(catalog)
    clock = FakeClock(time.time())

    ours_cold, ours_warm, peer_cold, peer_warm = [], [], [], []
    size = series = 0
    for _ in range(args.runs):
        state = build_state(args.agents, clock.time(), catalog)
        renderer = StateRenderer(state, catalog, clock, stale_after_intervals=3)
        ours_cold.append(timed(renderer.render))
        ours_warm.append(timed(renderer.render))
        text = renderer.render()
        size = len(text)
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))

        state = build_state(args.agents, clock.time(), catalog)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ClientPythonCollector(state, catalog))
        peer_cold.append(timed(lambda registry=registry: generate_latest(registry)))
        peer_warm.append(timed(lambda registry=registry: generate_latest(registry)))

    m = statistics.median
    print(f"{args.agents} agents, {series} series, {size / 1e6:.1f} MB of text; median of {args.runs} runs\n")
    print("| /metrics render | wardwatch | prometheus-client families | ratio (peer / ours) | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| cold (new reports) | {m(ours_cold):.3f} s | {m(peer_cold):.3f} s | {m(peer_cold) / m(ours_cold):.1f}x | < 1 s |"
    )
    print(
        f"| warm | {m(ours_warm):.3f} s | {m(peer_warm):.3f} s | {m(peer_warm) / m(ours_warm):.1f}x | < 1 s |"
    )
    return 0 if m(ours_cold) < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
