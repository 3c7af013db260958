"""Every ``web.AppKey`` of the collector app, in one place (aiohttp: "no singletons please")."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from alerting.clock import Clock
from collector.catalog import MetricCatalog
from collector.events import EventBus
from collector.settings import CollectorSettings
from collector.state import State

SETTINGS = web.AppKey("settings", CollectorSettings)
CLOCK = web.AppKey("clock", Clock)
STATE = web.AppKey("state", State)
CATALOG = web.AppKey("catalog", MetricCatalog)
REGISTRY = web.AppKey("registry", CollectorRegistry)
EVENTS = web.AppKey("events", EventBus)  # traps and other events; the alerting side subscribes
