"""The thin loop around the pure escalation engine: incidents in, pages out, state persisted.

Every tick (``interval_seconds``, and at once on ``wake()`` when an incident opens or is acknowledged):
1. asks the store which incidents may need anything (``escalation_candidates``: id -> version of the unresolved
   ones and those resolved within ``resolved_grace``) and re-reads only those whose version changed since the
   last tick — 10,000 open incidents cost one two-column query, not 10,000 parsed rows. For each incident read,
   ``escalation.next_due`` says when it next has anything due (its next level, repeat round or stakeholder
   update), and the loop keeps that in a due-time index (a heap). A new, acknowledged or resolved incident has a
   new version, so it is re-read and re-timed in the same tick; a policy edit re-times every incident (the
   roster does not: it decides who is paged, not when);
2. takes from the index the incidents whose time has come — in a steady tick none or a handful of 10,000 — and
   leaves out those that page nobody: attached to a parent's incident that is still open (dependency
   suppression, ``same_incident``; once the parent resolves, a child still open pages), flapping after their
   first page (no re-notification while flapping), or not yet paged and inside a maintenance window (they start
   paging when the window ends, if still open). Those stay due and are looked at again every tick;
3. ``escalation.plan(...)`` — pure — says what is due now for those incidents (the others have nothing due:
   ``next_due`` is exact, so this is the same plan as over all of them);
4. per incident, in this order: the pages go to the outbox (idempotent keys: ``<incident>/L<level>/R<round>/
   <person>``), then the new escalation state is saved with compare-and-set together with an ``escalated``
   timeline line. A crash between the two plans the same pages again after restart, and the outbox keeps the
   first copy: nothing is skipped and nobody is paged twice. An incident acknowledged meanwhile fails the
   compare-and-set; it is re-read next tick (and the outbox drops the page it no longer needs);
5. right after each incident that wrote pages or stakeholder updates to the outbox (its state saved or its
   compare-and-set lost) — not at the end of the tick — calls ``on_enqueued`` (the collector wakes the outbox
   worker with it): in a storm of thousands the first pages go out while the rest are being written.

Once at least ``gc_freeze_after`` incidents have been read or rewritten since the last time (the first tick after
a start, a storm, a large reload), the tick ends with ``gc.collect()`` and ``gc.freeze()``: the cache of
thousands of long-lived incidents moves out of the garbage collector's generations, so the full collections that
the per-tick allocations trigger no longer walk it (each took 50-90 ms at 10,000 incidents). ``freeze`` is
process-wide: whatever else is alive at that moment is never looked at by the cycle collector again (it is still
freed when its last reference goes).

Rounds that found nobody on duty are logged as errors and counted (``wardwatch_escalation_unstaffed_rounds_total``)
— ``wardwatch roster check`` exists so that never happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram

from alerting import escalation as engine
from alerting.clock import Clock
from alerting.escalation_config import EscalationConfig
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
    """Incidents the store said may need anything (all cached)."""
    reloaded: int = 0
    """Of those, read again because they were new or had changed."""
    planned: int = 0
    """Incidents planned: those whose next step was due, less the suppressed ones."""
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
        gc_freeze_after: int | None = 1000,
    ) -> None:
        self.store = store
        self.oncall = oncall
        self.clock = clock
        self.language = language
        self.interval_seconds = interval_seconds
        self.resolved_grace = resolved_grace
        self.on_enqueued = on_enqueued
        self.gc_freeze_after = gc_freeze_after
        self.metrics = _Metrics(registry)
        self._cache: dict[str, tuple[Incident, engine.IncidentView]] = {}
        # the due-time index over the cache: every cached incident with anything still to do is in exactly one
        # of _pending (due later; _heap holds (due, id) for it, and stale pairs that _pending no longer agrees
        # with) and _ready (due now or earlier: planned, or looked at if suppressed, every tick)
        self._pending: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._ready: dict[str, datetime] = {}
        self._timed_for: EscalationConfig | None = None
        self._timed_at: datetime | None = None
        self._unfrozen = 0
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

    # --- the cache and its due-time index ---

    def _time(self, incident_id: str, view: engine.IncidentView, now: datetime) -> None:
        """File the incident under its next due time, computed from ``now`` on."""
        self._ready.pop(incident_id, None)
        self._pending.pop(incident_id, None)
        if self._timed_for is None:
            return
        due = engine.next_due(view, self._timed_for, now)
        if due is None:
            return
        if due <= now:
            self._ready[incident_id] = due
        else:
            self._pending[incident_id] = due
            heapq.heappush(self._heap, (due, incident_id))

    def _put(self, incident: Incident, now: datetime) -> None:
        view = view_of(incident)
        self._cache[incident.id] = (incident, view)
        self._time(incident.id, view, now)
        self._unfrozen += 1

    def _drop(self, incident_id: str) -> None:
        self._cache.pop(incident_id, None)
        self._ready.pop(incident_id, None)
        self._pending.pop(incident_id, None)

    def _retime_all(self, now: datetime) -> None:
        self._ready.clear()
        self._pending.clear()
        self._heap.clear()
        for incident_id, (_, view) in self._cache.items():
            self._time(incident_id, view, now)

    def _take_due(self, now: datetime) -> list[str]:
        """The cached incidents whose next step is due at ``now``, earliest first."""
        heap, pending = self._heap, self._pending
        while heap and heap[0][0] <= now:
            due, incident_id = heapq.heappop(heap)
            if pending.get(incident_id) == due:  # else a stale pair: re-timed or dropped since
                del pending[incident_id]
                self._ready[incident_id] = due
        if len(heap) > 2 * len(pending) + 1000:  # mostly stale pairs: rebuild
            self._heap = [(due, incident_id) for incident_id, due in pending.items()]
            heapq.heapify(self._heap)
        return sorted(self._ready, key=lambda i: (self._ready[i], i))

    async def _refresh(self, now: datetime, policies: EscalationConfig | None) -> tuple[int, int]:
        edited = policies is not self._timed_for and policies != self._timed_for
        self._timed_for = policies
        if edited or (self._timed_at is not None and now < self._timed_at):
            # edited policies move every due time; a clock set back invalidates them (they count from later)
            self._retime_all(now)
        self._timed_at = now if self._timed_at is None else max(self._timed_at, now)
        versions = await self.store.escalation_candidates(resolved_since=now - self.resolved_grace)
        cache = self._cache
        for gone in cache.keys() - versions.keys():
            self._drop(gone)
        stale = [i for i, v in versions.items() if (c := cache.get(i)) is None or c[0].version != v]
        if stale:
            for inc in await self.store.get_many(stale):
                self._put(inc, now)
        return len(versions), len(stale)

    def _is_open(self, incident_id: str) -> bool:
        """Open as far as this tick knows (every unresolved incident is in the cache)."""
        cached = self._cache.get(incident_id)
        return cached is not None and cached[0].is_open

    async def _pageable(self, now: datetime, due: list[str]) -> list[engine.IncidentView]:
        """Of the incidents ``due``, those that page anybody."""
        views: list[engine.IncidentView] = []
        windows: list[MaintenanceWindow] | None = None
        for incident_id in due:
            inc, view = self._cache[incident_id]
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

    def _maybe_freeze(self) -> None:
        """After a large (re)load, take the long-lived cache out of the garbage collector's full passes."""
        if self.gc_freeze_after is None or self._unfrozen < self.gc_freeze_after:
            return
        started = time.perf_counter()
        gc.collect()  # so that no garbage is frozen with it
        gc.freeze()
        log.info(
            "%d incidents (re)loaded: the garbage collector no longer walks them (%.0f ms, %d objects frozen)",
            self._unfrozen,
            (time.perf_counter() - started) * 1000,
            gc.get_freeze_count(),
        )
        self._unfrozen = 0

    async def tick(self, now: datetime | None = None) -> TickResult:
        """One pass: what is due at ``now`` is enqueued and its state saved."""
        now = now or self.clock.now()
        started = time.perf_counter()
        self.oncall.maybe_reload()
        oncall = self.oncall.current
        candidates, reloaded = await self._refresh(now, oncall.policies)
        if oncall.policies is None:
            self._maybe_freeze()
            return TickResult(candidates=candidates, reloaded=reloaded)
        views = await self._pageable(now, self._take_due(now))
        actions = engine.plan(views, oncall.policies, oncall.roster, now)
        by_incident: dict[str, list[engine.Action]] = defaultdict(list)
        for a in actions:
            by_incident[a.incident_id].append(a)
        for view in views:
            if view.id not in by_incident:  # its due time has passed with nothing to do (acknowledged since)
                self._time(view.id, view, now)
        pages = escalated = conflicts = 0
        for incident_id, acts in by_incident.items():
            try:
                p, e, ok = await self._apply(incident_id, acts, now)
            except Exception:
                self.metrics.errors.inc()
                log.exception("escalation of incident %s failed; trying again next tick", incident_id)
                self._drop(incident_id)
                continue
            pages, escalated, conflicts = pages + p, escalated + e, conflicts + (not ok)
            if p and self.on_enqueued is not None:
                # at once, not after the tick: in a storm the first pages go out while the rest are written
                self.on_enqueued()
        self._maybe_freeze()
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
            self._drop(incident_id)
            return len(requests), 0, False
        self._put(saved, now)
        levels = [a.to_level for a in acts if isinstance(a, engine.Escalate)]
        for level in levels:
            self.metrics.escalations.labels(str(level)).inc()
            log.info("%s escalated to level %d", incident.number, level)
        return len(requests), len(levels), True
