"""The collector component for alerting: opens the incident store, runs the rule runner, adds the intake routes.

``setup(app)`` (listed in ``collector.app.COMPONENTS``) registers a cleanup context that
1. opens the store (``settings.alerting.store``: a PostgreSQL DSN or SQLite path; default ``wardwatch.db`` in
   the data directory),
2. starts the ``RuleRunner`` (loads the rules, seeds the alert states from open incidents), subscribes it to
   the state (a report is evaluated at once) and to the event bus (a trap is evaluated at once), and runs
   its loop,
3. on exit cancels the loop and closes the store.

Other components reach the store and the runner through ``app[ALERTING]`` (filled in at start-up; the object
itself is set in ``setup`` because an app cannot take new keys once it runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from alerting import intake
from alerting.rules import EvaluationOptions
from alerting.runner import FlappingPolicy, RuleRunner
from alerting.store import IncidentStore, open_store
from collector import keys
from collector.events import EventBus
from collector.health import add_readiness_check

log = logging.getLogger("wardwatch.alerting")


@dataclass
class Alerting:
    store: IncidentStore | None = None
    runner: RuleRunner | None = None
    task: asyncio.Task[None] | None = None


ALERTING = web.AppKey("alerting", Alerting)


def store_location(app: web.Application) -> str:
    settings = app[keys.SETTINGS]
    if settings.alerting.store is not None:
        return settings.alerting.store.get_secret_value()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return str(settings.data_dir / "wardwatch.db")


async def _alerting_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    cfg = settings.alerting
    holder = app[ALERTING]
    location = store_location(app)
    postgres = location.startswith(("postgresql://", "postgres://"))
    store = await open_store(location, schema=cfg.store_schema if postgres else None)
    holder.store = store
    runner = RuleRunner(
        store=store,
        state=app[keys.STATE],
        clock=app[keys.CLOCK],
        rules_dir=cfg.rules_dir,
        registry=app[keys.REGISTRY],
        interval_seconds=cfg.evaluation_interval_seconds,
        flapping=FlappingPolicy(
            cfg.flapping_transitions, cfg.flapping_window_seconds, cfg.flapping_quiet_seconds
        ),
        options=EvaluationOptions(
            stale_after_intervals=settings.state.stale_after_intervals,
            update_interval_seconds=cfg.value_update_interval_seconds,
        ),
    )
    unsubscribe: Callable[[], None] | None = None
    try:
        await runner.start()
        holder.runner = runner
        app[keys.STATE].subscribe(runner.on_snapshot)
        unsubscribe = app[keys.EVENTS].subscribe(runner.on_event)  # traps reach the rules at once
        holder.task = asyncio.create_task(runner.run(), name="wardwatch-rule-runner")
        yield
    finally:
        if unsubscribe is not None:
            unsubscribe()
        if holder.task is not None:
            holder.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holder.task
        holder.task = None
        holder.runner = None
        holder.store = None
        await store.close()


def _readiness(app: web.Application) -> str | None:
    runner = app[ALERTING].runner
    if runner is None:
        return "the rule runner is not running"
    if runner.load_problems:
        return f"rule files rejected, last good set in use: {runner.load_problems[0]}"
    return None


def setup(app: web.Application) -> None:
    if not app[keys.SETTINGS].alerting.enabled:
        return
    app[ALERTING] = Alerting()
    if keys.EVENTS not in app:  # the SNMP component makes it; without SNMP there may still be events
        app[keys.EVENTS] = EventBus()
    app.cleanup_ctx.append(_alerting_context)
    intake.setup_routes(app)
    add_readiness_check(app, "alerting", lambda: _readiness(app))
