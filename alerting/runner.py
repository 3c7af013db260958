"""The rule runner: load rules -> evaluate (pure) -> apply the transitions to the incident store.

One loop (``run``) evaluates everything every ``interval_seconds`` and, in between, the sources that just
reported (``on_snapshot``, a ``State`` listener) and the events that just arrived (``on_event``), so a report
or trap that crosses a rule is acted on at once, not on the next tick.

Applying a transition:
1. FIRING/UPDATED -> ``store.open_or_touch`` (one open incident per fingerprint, however often we say it);
   a new incident inside a maintenance window gets a timeline comment saying it pages nobody; a child's
   reachability incident is attached to its parent's open reachability incident (and a parent that goes
   down adopts its children that were already down).
2. RESOLVED -> ``store.resolve_by_fingerprint``, unless the alert is flapping (``flapping_transitions``
   transitions within ``flapping_window_seconds``): then the incident stays open, marked flapping, and
   resolves once the alert has been quiet for ``flapping_quiet_seconds``.
3. A store error puts the alert back where it was, so the next evaluation says it again: nothing is lost.

Restart: ``start()`` seeds the alert states from the store's open rule incidents, so an alert that cleared
while the collector was down resolves on the first evaluation and one still firing is not opened twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from alerting.clock import Clock
from alerting.incidents import OPEN_STATUSES, find_open_incident, note_maintenance
from alerting.model import AttachToParent, Incident, SetFlapping, Source
from alerting.rule_config import RuleSet, load_rules, rule_files
from alerting.rule_metrics import IncidentStatsCollector, OpenIncidentsCollector, RunnerMetrics
from alerting.rules import (
    AlertState,
    AlertTransition,
    EvaluationOptions,
    Event,
    Phase,
    SourceRef,
    TransitionKind,
    evaluate,
)
from alerting.store import IncidentStore, StoreError, VersionConflict
from alerting.yaml_lines import ConfigError
from collector.state import Snapshot, SourceKind, SourceState, State

log = logging.getLogger("wardwatch.rules")

# Between two chunks the runner sleeps this long rather than ``sleep(0)``: a trap reaches the runner two loop
# iterations after its datagram is read (``datagram_received`` hands it on with ``call_soon``), so after a bare
# ``sleep(0)`` it waited for two more chunks (~30 ms each at 1,000 hosts x 200 rules) before one could take it.
_BETWEEN_CHUNKS = 0.001


@dataclasses.dataclass(frozen=True)
class FlappingPolicy:
    transitions: int = 4
    window_seconds: float = 3600.0
    quiet_seconds: float = 900.0


class RuleRunner:
    def __init__(
        self,
        *,
        store: IncidentStore,
        state: State,
        clock: Clock,
        rules_dir: Path | None,
        registry: CollectorRegistry | None = None,
        interval_seconds: float = 5.0,
        flapping: FlappingPolicy = FlappingPolicy(),
        options: EvaluationOptions | None = None,
        chunk_size: int = 25,  # ~25 ms per chunk at 200 rules; 100 held the loop ~100 ms at a time
    ) -> None:
        self.store, self.state, self.clock = store, state, clock
        self.rules_dir = rules_dir
        self.interval_seconds = interval_seconds
        self.flapping = flapping
        self.options = options or EvaluationOptions()
        self.chunk_size = chunk_size
        self.rules = RuleSet((), {}, ())
        self.load_problems: list[str] = []
        self.metrics = RunnerMetrics(registry)
        self.open_incidents = OpenIncidentsCollector()
        self.incident_stats = IncidentStatsCollector()
        if registry is not None:
            registry.register(self.open_incidents)
            registry.register(self.incident_stats)
        self._signature: tuple[tuple[str, float, int], ...] | None = None
        self._states: dict[str, AlertState] = {}
        self._incident_ids: dict[str, str] = {}  # fingerprint -> open incident id
        self._history: dict[str, deque[float]] = {}  # fingerprint -> transition times
        self._flapping: dict[str, float] = {}  # fingerprint -> last transition time
        self._retired: set[str] = set()  # fingerprints of firing alerts whose rule was removed
        self._dirty: set[SourceRef] = set()
        self._events: list[Event] = []
        self._wake = asyncio.Event()
        self._requested = 1  # the first full evaluation of ``run`` is asked for from the start
        self._completed = 0
        self._done = asyncio.Condition()
        self._counts_stale = False  # an evaluation of ``run`` changed incidents: read the counts again
        self._refresh_wanted = 0  # the newest generation whose evaluation asked for that
        self._refreshed = 0  # the newest generation the counts were read after
        self._refresher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------ rules

    def reload(self, *, force: bool = False) -> bool:
        """Load the rule files if they changed. A bad set is logged (file:line: field: message) and the
        last good set stays. Returns True when a new set is in use."""
        if self.rules_dir is None:
            return False
        try:
            paths = rule_files(self.rules_dir) if self.rules_dir.is_dir() else []
            signature = tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in paths)
        except OSError as err:
            log.error("cannot read the rules directory %s: %s", self.rules_dir, err.strerror)
            return False
        if signature == self._signature and not force:
            return False
        self._signature = signature
        if not paths:
            # an unmounted share, a rename, `rm rules/*` before a copy: never read as "every rule was removed"
            # (that would resolve every open incident and page again for all of them once the files are back)
            what = "is missing" if not self.rules_dir.is_dir() else "has no rule files (*.yaml)"
            self.load_problems = [
                f"{self.rules_dir}: the rules directory {what}; set rules_dir: null for no rules"
            ]
            self.metrics.reload_failures.inc()
            log.error("rules not reloaded, keeping the last good set: %s", self.load_problems[0])
            return False
        try:
            rules = load_rules(paths)
        except ConfigError as err:
            self.load_problems = [str(p) for p in err.problems]
            self.metrics.reload_failures.inc()
            for problem in err.problems:
                log.error("rules not reloaded, keeping the last good set: %s", problem)
            return False
        self._retire_removed(rules)
        self.rules = rules
        self.load_problems = []
        self.metrics.rules.set(len(rules.rules))
        log.info("loaded %d rules from %d files in %s", len(rules.rules), len(paths), self.rules_dir)
        return True

    def use_rules(self, rules: RuleSet) -> None:
        self._retire_removed(rules)
        self.rules = rules
        self.metrics.rules.set(len(rules.rules))

    def _retire_removed(self, new: RuleSet) -> None:
        """A rule taken out of a good set: its firing alerts are resolved on the next evaluation. (Only on a
        successful load: a file that fails to load keeps its rules, and at start-up nothing is retired.)"""
        names = {r.name for r in new.rules}
        for fp, st in list(self._states.items()):
            if st.rule not in names:
                if st.phase is Phase.FIRING:
                    self._retired.add(fp)
                del self._states[fp]

    # ------------------------------------------------------------------------------- life cycle

    async def start(self) -> None:
        self.reload(force=True)
        await self.recover()
        await self.refresh_open_counts()

    async def recover(self) -> None:
        """Seed alert states from the store's open incidents of rules we still have."""
        by_name = {r.name: r for r in self.rules.rules}
        now = self.clock.time()
        for inc in await self.store.list(status=OPEN_STATUSES, limit=1_000_000):
            if inc.source not in (Source.RULE, Source.TRAP) or inc.rule not in by_name:
                continue
            self._incident_ids[inc.fingerprint] = inc.id
            self._states[inc.fingerprint] = AlertState(
                rule=inc.rule,
                fingerprint=inc.fingerprint,
                labels=dict(inc.labels),
                phase=Phase.FIRING,
                active_since=inc.opened_at.timestamp(),
                value=inc.value,
                source=_source_of(inc),
                fired_at=inc.opened_at.timestamp(),
                reported_value=inc.value,
                reported_at=now,
                last_event_at=inc.last_seen_at.timestamp(),
            )
            if inc.flapping:
                self._flapping[inc.fingerprint] = now

    def on_snapshot(self, source: SourceState, snapshot: Snapshot) -> None:
        """``State`` listener: evaluate this source soon. Cheap, never raises."""
        self._dirty.add((source.kind.value, source.name))
        self._requested += 1
        self._wake.set()

    def on_event(self, event: Event) -> None:
        self._events.append(event)
        self._requested += 1
        self._wake.set()

    async def settle(self) -> None:
        """Wait until everything asked for before this call has been evaluated and applied, and the open-incident
        counts and statistics read after it."""
        target = self._requested
        async with self._done:
            await self._done.wait_for(
                lambda: self._completed >= target and self._refreshed >= min(target, self._refresh_wanted)
            )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time()
        try:
            while True:
                timeout = max(0.0, next_full - loop.time())
                try:
                    async with asyncio.timeout(timeout):  # (3.11: wait_for can swallow a cancel)
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                generation = self._requested
                full = loop.time() >= next_full
                try:
                    if full:
                        next_full = loop.time() + self.interval_seconds
                        self.reload()
                        await self.run_once(trigger="tick", refresh=False)
                    elif self._dirty or self._events:
                        await self.run_once(
                            sources=self._take_dirty(),
                            trigger="event" if self._events else "report",
                            refresh=False,
                        )
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.metrics.errors.labels("loop").inc()
                    log.exception("rule evaluation failed; trying again on the next tick")
                if self._counts_stale:
                    self._counts_stale = False
                    self._refresh_wanted = generation
                    if self._refresher is None or self._refresher.done():
                        self._refresher = asyncio.create_task(self._refresh_in_turn())
                async with self._done:
                    self._completed = max(self._completed, generation)
                    self._done.notify_all()
        finally:
            if self._refresher is not None:
                self._refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._refresher

    async def _refresh_in_turn(self) -> None:
        """Read the open-incident counts and statistics again beside the loop, not in its way: reading them takes
        ~60-100 ms at 1,000 open incidents, and the loop did it after every evaluation with a transition, so a
        trap that came in meanwhile waited for it. One read at a time; evaluations during one ask for another."""
        while self._refreshed < self._refresh_wanted:
            target = self._refresh_wanted
            try:
                await self.refresh_open_counts()
            except Exception:  # (a StoreError is handled inside) settle() must not wait for ever
                self.metrics.errors.labels("count").inc()
                log.exception("cannot count open incidents")
            async with self._done:
                self._refreshed = target
                self._done.notify_all()

    def _take_dirty(self) -> set[SourceRef]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    # ------------------------------------------------------------------------------- evaluation

    async def run_once(
        self,
        *,
        sources: Iterable[SourceRef] | None = None,
        now: datetime | None = None,
        trigger: str = "tick",
        refresh: bool = True,
    ) -> list[AlertTransition]:
        """Evaluate (everything, or ``sources``) and apply the transitions; then (after a full evaluation, or one
        with transitions) read the open-incident counts and statistics again, or with ``refresh=False`` (``run``)
        leave that to be done beside the loop.

        The sources go ``chunk_size`` at a time and the runner yields to the event loop in between, so a large
        estate (1,000 hosts x 200 rules) never holds up ingest, traps and the API for the whole pass. Each chunk
        takes the events that came in since the one before and is evaluated at the clock's time when it starts
        (at ``now`` when that is given): a trap or a report that arrives during a pass is evaluated at a time
        after it came in, not at the time the pass started, and its incident is not dated before it. A report
        for a source whose chunk is still to come is evaluated by that chunk; one for a source already done,
        after the pass (``on_snapshot`` marked it)."""
        at = now or self.clock.now()
        if sources is None:
            refs = [(src.kind.value, src.name) for src in self.state.sources()]
            self._dirty.intersection_update(refs)  # each is taken off when its chunk is evaluated
        else:
            refs = list(sources)
        chunks = [refs[i : i + self.chunk_size] for i in range(0, len(refs), self.chunk_size)] or [[]]
        await self._resolve_retired(at)
        transitions: list[AlertTransition] = []
        elapsed = 0.0
        for i, chunk in enumerate(chunks):
            if i > 0:
                await asyncio.sleep(_BETWEEN_CHUNKS)
            if now is None:
                at = max(at, self.clock.now())
            if self._events and chunk:  # a trap goes first, not after a chunk of sources
                found, seconds = await self._evaluate_and_apply([], at)
                transitions += found
                elapsed += seconds
                if now is None:
                    at = max(at, self.clock.now())
            if sources is None:
                self._dirty.difference_update(chunk)
            found, seconds = await self._evaluate_and_apply(chunk, at)
            transitions += found
            elapsed += seconds
        self.metrics.duration.observe(elapsed)
        self.metrics.evaluations.labels(trigger).inc()
        if sources is None:
            await self._settle_flapping(at)
        if sources is None or transitions:
            if refresh:
                await self.refresh_open_counts()
            else:
                self._counts_stale = True
        firing = sum(1 for s in self._states.values() if s.phase is Phase.FIRING)
        self.metrics.alerts.labels("firing").set(firing)
        self.metrics.alerts.labels("pending").set(len(self._states) - firing)
        return transitions

    async def _evaluate_and_apply(
        self, chunk: list[SourceRef], at: datetime
    ) -> tuple[list[AlertTransition], float]:
        """Evaluate ``chunk`` and the events that came in since the last call; apply. Returns the transitions
        and the seconds the evaluation took."""
        events, self._events = self._events, []
        previous = self._states
        started = time.perf_counter()
        found, self._states = evaluate(
            self.rules.rules,
            self.state,
            at,
            previous,
            sources=chunk,
            events=events,
            plans=self.rules.plans,
            options=self.options,
        )
        elapsed = time.perf_counter() - started
        await self._apply(found, previous, at)
        return found, elapsed

    async def _resolve_retired(self, now: datetime) -> None:
        for fp in list(self._retired):
            try:
                await self.store.resolve_by_fingerprint(fp, now)
            except StoreError:
                self.metrics.errors.labels("store").inc()
                log.exception("could not resolve the incident of a removed rule; trying again")
                continue
            self._retired.discard(fp)
            self._incident_ids.pop(fp, None)
            self._flapping.pop(fp, None)

    async def refresh_open_counts(self) -> None:
        try:
            self.open_incidents.counts = await self.store.count_open_by()
            await self.incident_stats.refresh(
                self.store, self.clock.now()
            )  # opened/resolved, MTTA/MTTR, newest
        except StoreError:
            self.metrics.errors.labels("count").inc()
            log.exception("cannot count open incidents")

    @property
    def alert_states(self) -> dict[str, AlertState]:
        return dict(self._states)

    # ------------------------------------------------------------------------------ applying

    async def _apply(
        self, transitions: Sequence[AlertTransition], previous: dict[str, AlertState], now: datetime
    ) -> None:
        # parents before children, so a child can attach to the incident its parent just opened
        ordered = sorted(transitions, key=lambda tr: self._parent_of(tr) is not None)
        for tr in ordered:
            self.metrics.transitions.labels(tr.kind.value).inc()
            try:
                if tr.kind is TransitionKind.RESOLVED:
                    await self._resolve(tr, now)
                else:
                    await self._fire(tr, now)
            except StoreError:
                self.metrics.errors.labels("store").inc()
                log.exception("could not apply %s of %s; it will be tried again", tr.kind, tr.rule.name)
                self._undo(tr, previous)

    def _undo(self, tr: AlertTransition, previous: dict[str, AlertState]) -> None:
        if tr.kind is TransitionKind.RESOLVED and tr.fingerprint in previous:
            self._states[tr.fingerprint] = previous[tr.fingerprint]  # resolves again next time
        elif tr.kind is TransitionKind.FIRING and tr.fingerprint in self._states:
            st = self._states[tr.fingerprint]  # pending with its start kept: fires again next time
            self._states[tr.fingerprint] = dataclasses.replace(st, phase=Phase.PENDING, fired_at=None)
        elif tr.kind is TransitionKind.UPDATED and tr.fingerprint in self._states:
            st = self._states[tr.fingerprint]
            self._states[tr.fingerprint] = dataclasses.replace(st, reported_at=0.0)

    async def _fire(self, tr: AlertTransition, now: datetime) -> None:
        incident, created = await self.store.open_or_touch(tr.to_alert(), now)
        self._incident_ids[tr.fingerprint] = incident.id
        if tr.kind is not TransitionKind.FIRING:
            return
        flapping = self._count_transition(tr.fingerprint, now)
        if created:
            await note_maintenance(self.store, incident, tr.labels, now)
        elif flapping and not incident.flapping:
            incident = await self._set_flapping(incident, True, now)
        if tr.rule.same_incident is not None and incident.parent_id is None:
            await self._attach_to_same(tr, incident, now)
        if tr.rule.is_reachability:
            if incident.parent_id is None:  # also when touched: a try that failed is made again
                await self._attach_to_parent(tr, incident, now)
            await self._adopt_children(tr, incident, now)

    async def _resolve(self, tr: AlertTransition, now: datetime) -> None:
        flapping = self._count_transition(tr.fingerprint, now)
        if flapping or tr.fingerprint in self._flapping:
            incident = await self._open_incident(tr.fingerprint)
            if incident is not None and not incident.flapping:
                await self._set_flapping(incident, True, now)
            return  # stays open until quiet
        await self.store.resolve_by_fingerprint(tr.fingerprint, now)
        self._incident_ids.pop(tr.fingerprint, None)

    def _count_transition(self, fp: str, now: datetime) -> bool:
        """Record a transition; True when the alert is flapping."""
        t = now.timestamp()
        history = self._history.setdefault(fp, deque())
        history.append(t)
        while history and history[0] < t - self.flapping.window_seconds:
            history.popleft()
        if len(history) >= self.flapping.transitions:
            self._flapping[fp] = t
        elif fp in self._flapping:
            self._flapping[fp] = t
        return fp in self._flapping

    async def _settle_flapping(self, now: datetime) -> None:
        t = now.timestamp()
        for fp, last in list(self._flapping.items()):
            if t - last < self.flapping.quiet_seconds:
                continue
            try:
                incident = await self._open_incident(fp)
                if incident is not None:
                    incident = await self._set_flapping(incident, False, now)
                    st = self._states.get(fp)
                    if st is None or st.phase is not Phase.FIRING:
                        await self.store.resolve_by_fingerprint(fp, now)
                        self._incident_ids.pop(fp, None)
            except StoreError:
                self.metrics.errors.labels("store").inc()
                log.exception("could not end flapping of %s", fp)
                continue
            del self._flapping[fp]
            self._history.pop(fp, None)

    async def _set_flapping(self, incident: Incident, flapping: bool, now: datetime) -> Incident:
        for _ in range(3):
            try:
                return await self.store.apply(incident.id, incident.version, [SetFlapping(flapping)], now=now)
            except VersionConflict:
                incident = await self.store.get(incident.id)
        raise StoreError(f"could not mark {incident.number} flapping: too much contention")

    # ----------------------------------------------------------------------------- dependencies

    def _parent_of(self, tr: AlertTransition) -> str | None:
        if not tr.rule.is_reachability or tr.source is None:
            return None
        src = self.state.get(SourceKind(tr.source[0]), tr.source[1])
        return src.parent if src is not None else None

    def _reachability_firing(self, source_name: str) -> Iterable[AlertState]:
        names = {r.name for r in self.rules.rules if r.is_reachability}
        for st in self._states.values():
            if st.rule in names and st.phase is Phase.FIRING and st.source and st.source[1] == source_name:
                yield st

    async def _attach_to_parent(self, tr: AlertTransition, incident: Incident, now: datetime) -> None:
        parent = self._parent_of(tr)
        if parent is None:
            return
        for st in self._reachability_firing(parent):
            parent_incident = await self._open_incident(st.fingerprint)
            if parent_incident is not None and parent_incident.id != incident.id:
                await self._attach(incident, parent_incident.id, now)
                return

    async def _attach_to_same(self, tr: AlertTransition, incident: Incident, now: datetime) -> None:
        """``same_incident``: attach to the open incident of a named rule about the same thing, if it is older
        (the first to fire stays the one people work from; the later one pages nobody while it is open)."""
        same = tr.rule.same_incident
        assert same is not None
        key = [tr.labels.get(name) for name in same.by]
        if any(v is None for v in key):
            return
        for st in list(self._states.values()):
            if st.rule not in same.rules or st.phase is not Phase.FIRING or st.fingerprint == tr.fingerprint:
                continue
            if [st.labels.get(name) for name in same.by] != key:
                continue
            other = await self._open_incident(st.fingerprint)
            if other is None or other.id == incident.id or other.parent_id == incident.id:
                continue
            if (other.opened_at, other.number) < (incident.opened_at, incident.number):
                await self._attach(incident, other.parent_id or other.id, now)
                return

    async def _adopt_children(self, tr: AlertTransition, incident: Incident, now: datetime) -> None:
        assert tr.source is not None
        children = {src.name for src in self.state.sources() if src.parent == tr.source[1]}
        for child in children:
            for st in self._reachability_firing(child):
                child_incident = await self._open_incident(st.fingerprint)
                if child_incident is not None and child_incident.parent_id is None:
                    await self._attach(child_incident, incident.id, now)

    async def _attach(self, incident: Incident, parent_id: str, now: datetime) -> Incident:
        for _ in range(3):
            try:
                return await self.store.apply(
                    incident.id, incident.version, [AttachToParent(parent_id)], now=now
                )
            except VersionConflict:
                incident = await self.store.get(incident.id)
                if incident.parent_id == parent_id or not incident.is_open:
                    return incident
        raise StoreError(f"could not attach {incident.number}: too much contention")

    async def _open_incident(self, fp: str) -> Incident | None:
        inc = await find_open_incident(self.store, fp, known_id=self._incident_ids.get(fp))
        if inc is not None:
            self._incident_ids[fp] = inc.id
        return inc


def _source_of(inc: Incident) -> SourceRef | None:
    if "host" in inc.labels:
        return (SourceKind.AGENT.value, inc.labels["host"])
    if "device" in inc.labels:
        return (SourceKind.SNMP.value, inc.labels["device"])
    return None
