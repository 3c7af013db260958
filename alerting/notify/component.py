"""The collector component for notifications: the outbox delivery worker and the ``/links/{token}`` routes.

``setup(app)`` (in ``collector.app.COMPONENTS``, after ``alerting.component``, whose store it uses) adds the link
routes and a cleanup context that opens one ``aiohttp.ClientSession`` for every channel, builds the notifiers
from ``settings.notify.channels``, and runs the ``OutboxWorker`` until shutdown. Others enqueue with
``alerting.notify.pages.enqueue`` and call ``app[NOTIFY].worker.wake()`` to deliver at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from alerting.component import ALERTING
from alerting.notify import link_api
from alerting.notify.channels import build_notifiers
from alerting.notify.outbox import OutboxWorker
from collector import keys

log = logging.getLogger("wardwatch.notify")


@dataclass
class Notify:
    worker: OutboxWorker | None = None
    task: asyncio.Task[None] | None = None


NOTIFY = web.AppKey("notify", Notify)


async def _notify_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS].notify
    store = app[ALERTING].store
    if store is None:  # alerting's context failed or is absent: nothing to deliver from
        yield
        return
    links = app[link_api.LINKS]
    links.store = store
    if links.signer is None:
        log.warning("notify.link_secret is not set: pages carry no acknowledge/resolve links")
    holder = app[NOTIFY]
    async with aiohttp.ClientSession() as session:
        worker = OutboxWorker(
            store,
            build_notifiers(settings.channels, session=session, clock=app[keys.CLOCK]),
            clock=app[keys.CLOCK],
            policy=settings.outbox,
            registry=app[keys.REGISTRY],
            links=links.signer,
        )
        holder.worker = worker
        holder.task = asyncio.create_task(worker.run(), name="wardwatch-outbox")
        try:
            yield
        finally:
            holder.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holder.task
            holder.task = None
            holder.worker = None
            links.store = None


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    if not settings.notify.enabled or ALERTING not in app:
        return
    app[NOTIFY] = Notify()
    link_api.setup(app)
    app.cleanup_ctx.append(_notify_context)
