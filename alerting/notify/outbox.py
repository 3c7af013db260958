"""The delivery worker: claims due outbox items and sends them, with retries, backoff and failover.

One outbox item is one contact method of one page. ``run_once(now=...)``:
1. claims up to ``batch`` due items (compare-and-set in the store: two workers never hold the same item);
2. drops a page whose incident was acknowledged or resolved meanwhile (nobody is woken for nothing);
3. sends through the channel of the item's contact method, with fresh acknowledge/resolve links;
4. on success marks it delivered; on a retryable error, while tries through this method remain, puts it back
   due after an exponential backoff; otherwise (a permanent error, or tries used up) enqueues the person's next
   contact method (idempotent key, so a crash here does not page twice) and then marks this one dead.
Every try and its result goes into the incident's timeline (the store's ``mark_delivered``/``mark_failed``). A
crash between sending and marking means a second send after the lease expires: at least once, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from alerting.clock import Clock
from alerting.model import OutboxItem, Status
from alerting.notify.base import Notifier, NotifyError
from alerting.notify.links import LinkSigner
from alerting.notify.model import Notification, PageRequest
from alerting.notify.pages import enqueue_contact
from alerting.notify.settings import OutboxPolicy
from alerting.store import ClaimLost, IncidentNotFound, IncidentStore

log = logging.getLogger("wardwatch.notify.outbox")

NOTIFICATIONS_TOTAL = "wardwatch_notifications_total"
PAGES_TOTAL = "wardwatch_pages_total"  # pages only (not progress or test messages), with the roster person id
RESULTS = ("delivered", "retry", "failover", "failed", "cancelled")


class OutboxWorker:
    def __init__(
        self,
        store: IncidentStore,
        notifiers: Mapping[str, Notifier],
        *,
        clock: Clock,
        policy: OutboxPolicy | None = None,
        registry: CollectorRegistry | None = None,
        links: LinkSigner | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.policy = policy or OutboxPolicy()
        self.links = links
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.sent = Counter(
            "wardwatch_notifications",
            "Notification tries by channel and result (delivered, retry, failover, failed, cancelled).",
            ["channel", "result"],
            registry=registry,
        )
        self.pages = Counter(
            "wardwatch_pages",
            "Page tries by person (roster id), channel and result: the on-call load per person.",
            ["person", "channel", "result"],
            registry=registry,
        )
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call after enqueueing)."""
        self._wake.set()

    async def run(self) -> None:
        """The loop: ``run_once``, then wait for ``wake()`` or the poll interval. Errors are logged, not fatal."""
        while True:
            self._wake.clear()
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox: delivery round failed; retrying after the poll interval")
                busy = 0
            if busy:
                continue
            # the wait is on the event loop's timer, the decisions on the injected clock (as the rule runner
            # does): a FakeClock is never advanced by the worker itself
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(
                    self.policy.poll_interval_seconds
                ):  # (3.11: wait_for can swallow a cancel)
                    await self._wake.wait()

    async def run_once(self, *, now: datetime | None = None) -> int:
        """Claim and deliver what is due at ``now``; returns how many items were handled."""
        now = now or self.clock.now()
        items = await self.store.claim_due(
            self.worker_id, now=now, limit=self.policy.batch, lease_seconds=self.policy.lease_seconds
        )
        await asyncio.gather(*(self._deliver(item, now) for item in items))
        return len(items)

    async def _deliver(self, item: OutboxItem, now: datetime) -> None:
        try:
            req = PageRequest.model_validate(item.payload)
        except ValidationError:
            log.error("outbox item %s (%s) has an unreadable payload; dropped", item.id, item.key)
            await self._mark(item, now, error="unreadable payload", next_attempt_at=None)
            self._count(None, item.channel, "failed")
            return
        contact = req.contacts[req.contact_index]
        if await self._moot(req):
            await self._mark(
                item, now, error=f"not sent: {req.incident.number} is no longer open", next_attempt_at=None
            )
            self._count(req, contact.kind, "cancelled")
            return
        try:
            await self._send(req, now)
        except NotifyError as err:
            await self._failed(item, req, err, now)
            return
        try:
            await self.store.mark_delivered(item.id, worker=self.worker_id, now=now)
        except ClaimLost as err:
            log.warning("outbox: %s", err)
        self._count(req, contact.kind, "delivered")
        log.info(
            "outbox: %s delivered to %s via %s (try %d)", item.key, req.person_id, contact.kind, item.attempts
        )

    def _count(self, req: PageRequest | None, channel: str, result: str) -> None:
        self.sent.labels(channel, result).inc()
        if req is not None and req.kind == "page":  # the person id is the roster's: never an address
            self.pages.labels(req.person_id, channel, result).inc()

    async def _moot(self, req: PageRequest) -> bool:
        if req.kind != "page" or req.incident.id is None:
            return False
        try:
            incident = await self.store.get(req.incident.id)
        except IncidentNotFound:
            return True
        return incident.status is not Status.OPEN

    async def _send(self, req: PageRequest, now: datetime) -> None:
        contact = req.contacts[req.contact_index]
        notifier = self.notifiers.get(contact.kind)
        if notifier is None:
            raise NotifyError(f"no {contact.kind} channel is configured", retryable=False)
        ack = resolve = None
        if self.links is not None and req.kind == "page" and req.incident.id is not None:
            ack = self.links.link(req.incident.id, req.person_id, "ack", now=now)
            resolve = self.links.link(req.incident.id, req.person_id, "resolve", now=now)
        n = Notification(
            kind=req.kind,
            person_id=req.person_id,
            person_name=req.person_name,
            contact=contact,
            incident=req.incident,
            reason=req.reason,
            language=req.language,
            ack_url=ack,
            resolve_url=resolve,
        )
        try:
            await notifier.send(n)
        except NotifyError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a channel bug must not stop the worker; its text may hold secrets
            log.error("outbox: %s channel raised %s", contact.kind, type(err).__name__)
            raise NotifyError(f"{contact.kind}: unexpected {type(err).__name__}", retryable=True) from None

    async def _failed(self, item: OutboxItem, req: PageRequest, err: NotifyError, now: datetime) -> None:
        kind = req.contacts[req.contact_index].kind
        if err.retryable and item.attempts < self.policy.attempts_per_method:
            delay = self.policy.backoff_seconds(item.attempts)
            await self._mark(
                item, now, error=f"{kind}: {err}", next_attempt_at=now + timedelta(seconds=delay)
            )
            self._count(req, kind, "retry")
            log.warning("outbox: %s try %d failed (%s); again in %.0f s", item.key, item.attempts, err, delay)
            return
        nxt = req.contact_index + 1
        why = "permanent error" if not err.retryable else f"{item.attempts} tries"
        if nxt < len(req.contacts):
            follow = req.model_copy(update={"contact_index": nxt})
            await enqueue_contact(self.store, follow, now=now)  # first: a crash here must not lose the page
            error = f"{kind}: {err} ({why}; failing over to {req.contacts[nxt].kind})"
            result = "failover"
        else:
            error = f"{kind}: {err} ({why}; no contact method left for {req.person_id})"
            result = "failed"
        await self._mark(item, now, error=error, next_attempt_at=None)
        self._count(req, kind, result)
        log.warning("outbox: %s %s", item.key, error)

    async def _mark(
        self, item: OutboxItem, now: datetime, *, error: str, next_attempt_at: datetime | None
    ) -> None:
        try:
            await self.store.mark_failed(
                item.id, worker=self.worker_id, now=now, error=error, next_attempt_at=next_attempt_at
            )
        except ClaimLost as lost:
            log.warning("outbox: %s", lost)
