"""``GET /metrics``: the state, rendered as Prometheus text (format 0.0.4) on each scrape.

Two parts, concatenated:
- ``generate_latest(registry)``: the collector's own metrics and any prometheus-client collectors
  components registered in ``app[REGISTRY]`` (small);
- ``render_state``: every series of every source's newest snapshot, with the source's identity
  (``host=`` for agents, ``device=`` for SNMP gear) and asset labels, plus the per-agent
  ``wardwatch_agent_*`` metrics.

Why not a prometheus-client ``Collector`` for the state: 1,000 agents × 100 series built as
``Sample`` objects and re-escaped on every scrape took ~3 s; rendering text directly with the
label fragments cached (a series' labels repeat scrape after scrape) is ~10× faster (see
docs/benchmarks.md). Rendering reads the state only: no I/O, no awaits.
"""

from __future__ import annotations

from collections import defaultdict

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alerting.clock import Clock
from collector import keys
from collector.catalog import MetricCatalog, MetricInfo, MetricType
from collector.host_metrics import AGENT_CLOCK_SKEW, AGENT_INFO, AGENT_LAST_REPORT, AGENT_UP
from collector.selfmetrics import SELF_METRICS
from collector.state import SourceKind, SourceState, State

IDENTITY_LABEL = {SourceKind.AGENT: "host", SourceKind.SNMP: "device"}
ASSET_LABELS = frozenset({"site", "system", "role", "department", "room", "rack"})
_MAX_CACHED_FRAGMENTS = 200_000


def escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def exposed_name(info: MetricInfo) -> str:
    """The name a family's HELP, TYPE and sample lines all carry. As prometheus-client's text format does
    (``InfoMetricFamily``), an info family ``x`` is exposed as the gauge ``x_info``; others keep their name."""
    return f"{info.name}_info" if info.type is MetricType.INFO else info.name


class StateRenderer:
    """Renders the state as exposition text; caches label fragments across scrapes."""

    def __init__(
        self, state: State, catalog: MetricCatalog, clock: Clock, *, stale_after_intervals: float
    ) -> None:
        self._state = state
        self._catalog = catalog
        self._clock = clock
        self._stale_after = stale_after_intervals
        self._fragments: dict[tuple[SourceKind, tuple[tuple[str, str], ...]], str] = {}

    def _fragment(self, kind: SourceKind, pairs: tuple[tuple[str, str], ...]) -> str:
        """',a="x",b="y"' for a series' own labels; a label that clashes with the source's identity
        or asset labels is renamed exported_<name>, as Prometheus does."""
        key = (kind, pairs)
        frag = self._fragments.get(key)
        if frag is None:
            if len(self._fragments) > _MAX_CACHED_FRAGMENTS:
                self._fragments.clear()
            reserved = ASSET_LABELS | {IDENTITY_LABEL[kind]}
            frag = "".join(
                f',{"exported_" + k if k in reserved else k}="{escape_label_value(v)}"' for k, v in pairs
            )
            self._fragments[key] = frag
        return frag

    @staticmethod
    def _source_prefix(src: SourceState) -> str:
        parts = [f'{IDENTITY_LABEL[src.kind]}="{escape_label_value(src.name)}"']
        parts.extend(f'{k}="{escape_label_value(v)}"' for k, v in sorted(src.labels.items()) if v != "")
        return ",".join(parts)

    def render(self) -> str:
        # Rows are kept without the metric name, which is the family's exposed name (see exposed_name),
        # added once per family below, so HELP, TYPE and samples cannot disagree.
        lines: dict[str, list[str]] = defaultdict(list)
        now = self._clock.time()
        for src in self._state.sources():
            prefix = self._source_prefix(src)
            if src.kind is SourceKind.AGENT:
                up = 1 if src.is_up(now, stale_after_intervals=self._stale_after) else 0
                lines[AGENT_UP].append(f"{{{prefix}}} {up}")
                if src.last_seen is not None:
                    lines[AGENT_LAST_REPORT].append(f"{{{prefix}}} {src.last_seen!r}")
                if src.clock_skew_seconds is not None:
                    lines[AGENT_CLOCK_SKEW].append(f"{{{prefix}}} {src.clock_skew_seconds!r}")
                version = escape_label_value(src.info.get("version", ""))
                lines[AGENT_INFO].append(f'{{{prefix},version="{version}"}} 1')
            snap = src.latest()
            if snap is None:
                continue
            kind = src.kind
            fragment = self._fragment
            for (name, pairs), value in snap.samples.items():
                lines[name].append(f"{{{prefix}{fragment(kind, pairs)}}} {value}")

        out: list[str] = []
        for name, rows in lines.items():
            info = self._catalog.get(name)
            if info is None:
                continue  # an undeclared name is a programming error that tests catch; never exposed
            exposed = exposed_name(info)
            type_ = "gauge" if info.type is MetricType.INFO else info.type.value
            out.append(f"# HELP {exposed} {_escape_help(info.help)}")
            out.append(f"# TYPE {exposed} {type_}")
            out.append(exposed + ("\n" + exposed).join(rows))
        out.append("")
        return "\n".join(out)


def declare_agent_metrics(catalog: MetricCatalog) -> None:
    catalog.declare(
        AGENT_UP, MetricType.GAUGE, "1 while the agent's newest report is fresh (within its stale limit)."
    )
    catalog.declare(AGENT_LAST_REPORT, MetricType.GAUGE, "Collector time the agent's newest report arrived.")
    catalog.declare(
        AGENT_CLOCK_SKEW, MetricType.GAUGE, "Agent clock minus collector clock when it last sent."
    )
    catalog.declare(AGENT_INFO, MetricType.INFO, "The agent's version.")


RENDERER = web.AppKey("state_renderer", StateRenderer)


async def metrics_handler(request: web.Request) -> web.Response:
    app = request.app
    with app[SELF_METRICS].scrape_seconds.time():
        body = generate_latest(app[keys.REGISTRY]) + app[RENDERER].render().encode()
    resp = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        resp.enable_compression()
    return resp


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    declare_agent_metrics(app[keys.CATALOG])
    app[RENDERER] = StateRenderer(
        app[keys.STATE],
        app[keys.CATALOG],
        app[keys.CLOCK],
        stale_after_intervals=settings.state.stale_after_intervals,
    )
    app.router.add_get("/metrics", metrics_handler)
