"""The collector's aiohttp application factory.

``create_app(settings, clock=..., registry=...)`` builds everything from arguments (no globals):
shared objects live under the AppKeys of ``collector.keys``; long-lived resources (background tasks,
SNMP engine, stores) are made in ``app.cleanup_ctx`` by each component's ``setup(app)``.

A *component* is a module with ``setup(app: web.Application) -> None`` that adds its routes and
cleanup contexts. ``COMPONENTS`` lists them in start-up order (cleanup runs in reverse).
"""

from __future__ import annotations

import importlib

from aiohttp import web
from prometheus_client import CollectorRegistry

from alerting.clock import Clock, SystemClock
from collector import keys
from collector.catalog import MetricCatalog
from collector.settings import CollectorSettings
from collector.state import State

COMPONENTS: tuple[str, ...] = (
    "collector.errors",  # JSON error middleware: first, so every component's errors are JSON
    "collector.selfmetrics",  # the collector's own health metrics
    "collector.ingest",  # POST /api/v1/reports
    "collector.exposition",  # GET /metrics
    "collector.health",  # GET /healthz, /readyz
    "collector.snmp.component",  # SNMP poller, scheduler and trap receiver (settings.snmp)
    "alerting.component",  # rules, incident store, intake (POST /api/v1/alerts/alertmanager, ...)
    "alerting.notify.component",  # outbox delivery worker, GET/POST /links/{token} (settings.notify)
    "alerting.roster_api",  # roster + policies (settings.rosters), wardwatch_oncall_info, who/iCal routes
    "alerting.escalation_component",  # the escalation loop: incidents -> pages in the outbox
)


def create_app(
    settings: CollectorSettings,
    *,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    components: tuple[str, ...] = COMPONENTS,
) -> web.Application:
    app = web.Application(client_max_size=settings.http.max_report_bytes)
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.REGISTRY] = registry if registry is not None else CollectorRegistry(auto_describe=True)
    app[keys.CATALOG] = MetricCatalog()
    app[keys.STATE] = State(
        window_seconds=settings.state.window_seconds, max_snapshots=settings.state.max_snapshots
    )
    for name in components:
        importlib.import_module(name).setup(app)
    return app
