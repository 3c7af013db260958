"""The collector component that runs the escalation loop (in ``collector.app.COMPONENTS`` after the notify
component, whose outbox worker it wakes, and the roster component, whose ``OnCallSource`` it shares).

Its cleanup context starts an ``EscalationLoop`` over the alerting component's store, subscribes it to the
store's changes (an incident opened, acknowledged or resolved is planned at once, not at the next tick) and runs
it until shutdown. ``app[ESCALATION].loop`` is the running loop (tests tick it by hand with a ``FakeClock``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from alerting.component import ALERTING
from alerting.escalation_loop import EscalationLoop
from alerting.notify.component import NOTIFY
from alerting.roster_api import ONCALL
from collector import keys
from collector.health import add_readiness_check


@dataclass
class Escalation:
    loop: EscalationLoop | None = None
    task: asyncio.Task[None] | None = None


ESCALATION = web.AppKey("escalation", Escalation)


async def _escalation_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = app[ALERTING].store
    if store is None:
        yield
        return
    holder = app[ESCALATION]

    def wake_outbox() -> None:
        notify = app.get(NOTIFY)
        if notify is not None and notify.worker is not None:
            notify.worker.wake()

    loop = EscalationLoop(
        store,
        app[ONCALL],
        clock=app[keys.CLOCK],
        language=settings.notify.language,
        interval_seconds=settings.rosters.escalation_interval_seconds,
        resolved_grace=timedelta(seconds=settings.rosters.resolved_grace_seconds),
        registry=app[keys.REGISTRY],
        on_enqueued=wake_outbox,
    )
    unsubscribe: Callable[[], None] = store.subscribe(lambda _incident: loop.wake())
    holder.loop = loop
    holder.task = asyncio.create_task(loop.run(), name="wardwatch-escalation")
    try:
        yield
    finally:
        unsubscribe()
        holder.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holder.task
        holder.task = None
        holder.loop = None


def _readiness(app: web.Application) -> str | None:
    oncall = app[ONCALL]
    if oncall.current.policies is None:
        return f"no escalation policies at {oncall.current.escalation_file}: nobody would be paged"
    if oncall.problems:
        return f"roster or escalation policies rejected, the last good ones in use: {oncall.problems[0]}"
    loop = app[ESCALATION].loop
    if loop is not None and loop.last_error is not None:
        return f"the escalation loop is failing: {loop.last_error}"
    return None


def setup(app: web.Application) -> None:
    if ALERTING not in app or ONCALL not in app:  # alerting or rosters disabled: nothing to escalate
        return
    app[ESCALATION] = Escalation()
    app.cleanup_ctx.append(_escalation_context)
    add_readiness_check(app, "escalation", lambda: _readiness(app))
