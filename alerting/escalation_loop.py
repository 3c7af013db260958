"""The thin loop around the pure escalation engine: incidents in, pages out, state persisted.

Every tick (``interval_seconds``, and at once on ``wake()`` when an incident opens or is acknowledged):
1. asks the store which incidents may need anything (``escalation_candidates``: id -> version of the unresolved
   ones and those resolved within ``resolved_grace``) and re-reads only those whose version changed since the
   last tick — 10,000 open incidents cost one two-column query, not 10,000 parsed rows;
2. leaves out incidents that page nobody: attached to a parent's incident that is still open (dependency
   suppression, ``same_incident``; once the parent resolves, a child still open pages), flapping after their
   first page (no re-notification while flapping), or not yet paged and inside a maintenance window (they start
   paging when the window ends, if still open);
3. ``escalation.plan(...)`` — pure — says what is due now;
4. per incident, in this order: the pages go to the outbox (idempotent keys: ``<incident>/L<level>/R<round>/
   <person>``), then the new escalation state is saved with compare-and-set together with an ``escalated``
   timeline line. A crash between the two plans the same pages again after restart, and the outbox keeps the
   first copy: nothing is skipped and nobody is paged twice. An incident acknowledged meanwhile fails the
   compare-and-set; it is re-read next tick (and the outbox drops the page it no longer needs);
5. wakes the outbox worker as soon as an incident's pages are in the outbox, not at the end of the tick: in a
   storm of thousands the first pages go out while the rest are being written.

Rounds that found nobody on duty are logged as errors and counted (``wardwatch_escalation_unstaffed_rounds_total``)
— ``wardwatch roster check`` exists so that never happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram

from alerting import escalation as engine
from alerting.clock import Clock
from alerting.model import Escalate, Incident, MaintenanceWindow, SaveEscalationState
from alerting.notify.model import Language
from alerting.notify.pages import enqueue, requests_from_actions
from alerting.oncall_source import OnCallSource
from alerting.store import IncidentStore, InvalidTransition, VersionConflict

log = logging.getLogger("wardwatch.escalation")


def view_of(incident: Incident) -> engine.IncidentView:
    """The slice of a stored incident the engine reads."""
    return engine.IncidentView(
        id=incident.id,
        severity=incident.severity.priority,  # type: ignore[arg-type]
        category=incident.category.value,
        opened_at=incident.opened_at,
        labels=incident.labels,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at,
        escalation=engine.state_from_json(incident.escalation_state),
    )


@dataclass(frozen=True)
class TickResult:
    candidates: int = 0
    reloaded: int = 0
    planned: int = 0
    pages: int = 0
    escalated: int = 0
    conflicts: int = 0


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.duration = Histogram(
            "wardwatch_escalation_tick_duration_seconds",
            "Time one escalation tick took (store reads, plan, outbox and state writes).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.escalations = Counter(
            "wardwatch_escalations",
            "Incidents that reached an escalation level, by level (level 1 is the first page).",
            ["level"],
            registry=registry,
        )
        self.pages = Counter(
            "wardwatch_escalation_pages",
            "Pages and stakeholder updates the escalation loop put in the outbox, by kind.",
            ["kind"],
            registry=registry,
        )
        self.unstaffed = Counter(
            "wardwatch_escalation_unstaffed_rounds",
            "Page rounds that found nobody on duty for their targets (fix the roster: wardwatch roster check).",
            registry=registry,
        )
        self.errors = Counter(
            "wardwatch_escalation_errors",
            "Escalation ticks or incidents that failed (store errors, unexpected exceptions).",
            registry=registry,
        )


class EscalationLoop:
    def __init__(
        self,
        store: IncidentStore,
        oncall: OnCallSource,
        *,
        clock: Clock,
        language: Language = "zh",
        interval_seconds: float = 1.0,
        resolved_grace: timedelta = timedelta(hours=1),
        registry: CollectorRegistry | None = None,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.oncall = oncall
        self.clock = clock
        self.language = language
        self.interval_seconds = interval_seconds
        self.resolved_grace = resolved_grace
        self.on_enqueued = on_enqueued
        self.metrics = _Metrics(registry)
        self._cache: dict[str, tuple[Incident, engine.IncidentView]] = {}
        self._wake = asyncio.Event()
        self.last_error: str | None = None

    def wake(self) -> None:
        """Tick now rather than at the next interval (an incident opened or changed)."""
        self._wake.set()

    async def run(self) -> None:
        """Tick, then wait for ``wake()`` or the interval. A failed tick is logged and counted, never fatal."""
        while True:
            self._wake.clear()
            try:
                await self.tick()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.metrics.errors.inc()
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("escalation tick failed; trying again after %.1f s", self.interval_seconds)
            # waits on the event loop's timer; decisions use the injected clock (as the rule runner does)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_seconds):  # (3.11: wait_for can swallow a cancel)
                    await self._wake.wait()

    async def _refresh(self, now: datetime) -> tuple[int, int]:
        versions = await self.store.escalation_candidates(resolved_since=now - self.resolved_grace)
        for gone in self._cache.keys() - versions.keys():
            del self._cache[gone]
        stale = [i for i, v in versions.items() if i not in self._cache or self._cache[i][0].version != v]
        if stale:
            for inc in await self.store.get_many(stale):
                self._cache[inc.id] = (inc, view_of(inc))
        return len(versions), len(stale)

    def _is_open(self, incident_id: str) -> bool:
        """Open as far as this tick knows (every unresolved incident is in the cache)."""
        cached = self._cache.get(incident_id)
        return cached is not None and cached[0].is_open

    async def _pageable(self, now: datetime) -> list[engine.IncidentView]:
        views: list[engine.IncidentView] = []
        windows: list[MaintenanceWindow] | None = None
        for inc, view in self._cache.values():
            if inc.parent_id is not None and inc.is_open and self._is_open(inc.parent_id):
                continue  # attached to its parent's open incident: the parent's pages cover it
            started = view.escalation.level >= 1
            if inc.flapping and started and inc.is_open:
                continue  # no re-notification while flapping
            if not started and inc.is_open:
                if windows is None:
                    windows = await self.store.list_maintenance(active_at=now)
                if any(w.matches(inc.labels) for w in windows):
                    continue  # recorded, pages nobody; starts paging when the window ends
            views.append(view)
        return views

    async def tick(self, now: datetime | None = None) -> TickResult:
        """One pass: what is due at ``now`` is enqueued and its state saved."""
        now = now or self.clock.now()
        started = time.perf_counter()
        self.oncall.maybe_reload()
        oncall = self.oncall.current
        candidates, reloaded = await self._refresh(now)
        if oncall.policies is None:
            return TickResult(candidates=candidates, reloaded=reloaded)
        views = await self._pageable(now)
        actions = engine.plan(views, oncall.policies, oncall.roster, now)
        by_incident: dict[str, list[engine.Action]] = defaultdict(list)
        for a in actions:
            by_incident[a.incident_id].append(a)
        pages = escalated = conflicts = 0
        for incident_id, acts in by_incident.items():
            try:
                p, e, ok = await self._apply(incident_id, acts, now)
            except Exception:
                self.metrics.errors.inc()
                log.exception("escalation of incident %s failed; trying again next tick", incident_id)
                self._cache.pop(incident_id, None)
                continue
            pages, escalated, conflicts = pages + p, escalated + e, conflicts + (not ok)
            if p and self.on_enqueued is not None:
                # at once, not after the tick: in a storm the first pages go out while the rest are written
                self.on_enqueued()
        self.metrics.duration.observe(time.perf_counter() - started)
        return TickResult(candidates, reloaded, len(views), pages, escalated, conflicts)

    async def _apply(
        self, incident_id: str, acts: list[engine.Action], now: datetime
    ) -> tuple[int, int, bool]:
        incident, view = self._cache[incident_id]
        requests = requests_from_actions(acts, {incident_id: incident}, language=self.language)
        enqueued = await enqueue(
            self.store, requests, now=now
        )  # first: a crash after this re-plans the same keys
        for req, (_, new) in zip(requests, enqueued, strict=True):
            if new:
                self.metrics.pages.labels(req.kind).inc()
        store_actions: list[Escalate | SaveEscalationState] = []
        for a in acts:
            if isinstance(a, engine.Escalate):
                paged = next(
                    (r.paged for r in acts if isinstance(r, engine.RoundDone) and r.level == a.to_level), ()
                )
                details = {"policy": a.policy, "paged": list(paged)}
                store_actions.append(Escalate(to_level=a.to_level, details=details))
            elif isinstance(a, engine.RoundDone) and not a.paged:
                self.metrics.unstaffed.inc()
                log.error(
                    "%s: nobody on duty for escalation level %d (round %d) — the roster has a gap",
                    incident.number,
                    a.level,
                    a.round,
                )
        new_state = engine.apply(view, acts).escalation
        store_actions.append(SaveEscalationState(engine.state_to_json(new_state)))
        try:
            saved = await self.store.apply(incident_id, incident.version, store_actions, now=now)
        except (VersionConflict, InvalidTransition) as e:
            # acknowledged, resolved or escalated elsewhere meanwhile: read it again next tick
            log.info("%s changed while escalating (%s); re-planning next tick", incident.number, e)
            self._cache.pop(incident_id, None)
            return len(requests), 0, False
        self._cache[incident_id] = (saved, view_of(saved))
        levels = [a.to_level for a in acts if isinstance(a, engine.Escalate)]
        for level in levels:
            self.metrics.escalations.labels(str(level)).inc()
            log.info("%s escalated to level %d", incident.number, level)
        return len(requests), len(levels), True
