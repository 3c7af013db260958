"""Rule evaluation, pure: ``evaluate(rules, state, now, previous) -> (transitions, states)``.

Nothing here does I/O or reads a clock. The caller (``alerting.runner``) keeps the returned states and
passes them back next time; ``for:`` (pending -> firing), hysteresis and event timeouts are all functions
of those states and ``now``.

An *instance* of a rule is one label set: the source's asset labels, ``host`` (agents) or ``device``
(SNMP), the series' own labels and the rule's static labels. Its fingerprint is
``fingerprint_for(rule.name, labels)``, so the store keeps one open incident per instance.

Staleness: a source that sent nothing for ``stale_after_intervals`` of its interval keeps its series
alerts as they were (we cannot see, so we neither open nor resolve on old data); the heartbeat rules
speak for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from alerting.model import Alert, Category, Severity, Source, fingerprint_for
from alerting.rule_conditions import (
    AGENT_CLOCK_SKEW,
    EvalContext,
    EvaluationOptions,
    Observation,
    SourceRef,
    counter_rate,
    full_match,
    hours_until,
    matches,
    observe,
    selects,
    source_labels,
)
from alerting.rule_config import EventCondition, MissingCondition, RuleConfig, render_template
from collector.state import SourceKind, State

__all__ = [
    "AGENT_CLOCK_SKEW",
    "AlertState",
    "AlertTransition",
    "EvaluationOptions",
    "Event",
    "Phase",
    "SourceRef",
    "TransitionKind",
    "counter_rate",
    "evaluate",
    "hours_until",
    "selects",
    "source_labels",
]


class Event(Protocol):
    """What the rules need of an event (an SNMP trap, ...); ``collector.events.Event`` fits."""

    @property
    def kind(self) -> str: ...  # e.g. "snmp.linkDown"
    @property
    def source_kind(self) -> str: ...  # "snmp", "agent"
    @property
    def source_name(self) -> str: ...  # "" when the sender is not in the inventory
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def received_at(self) -> float: ...


class Phase(StrEnum):
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True, slots=True)
class AlertState:
    rule: str
    fingerprint: str
    labels: Mapping[str, str]
    phase: Phase
    active_since: float  # when the condition started to hold (unix seconds)
    value: float | None
    source: SourceRef | None
    fired_at: float | None = None
    reported_value: float | None = None  # the value last sent out in a transition
    reported_at: float | None = None
    last_event_at: float | None = None  # event rules: the newest matching event
    series: tuple[tuple[str, str], ...] | None = None  # the series' own labels (None: event or recovered)


class TransitionKind(StrEnum):
    FIRING = "firing"
    UPDATED = "updated"  # still firing, value changed (at most once per ``update_interval_seconds``)
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertTransition:
    kind: TransitionKind
    rule: RuleConfig
    fingerprint: str
    labels: Mapping[str, str]
    value: float | None
    at: datetime
    source: SourceRef | None
    starts_at: datetime
    plan_url: str | None = None

    @property
    def summary(self) -> str:
        return render_template(self.rule.summary, self.labels, self.value)

    @property
    def description(self) -> str:
        return render_template(self.rule.description, self.labels, self.value)

    def to_alert(self) -> Alert:
        return Alert(
            fingerprint=self.fingerprint,
            rule=self.rule.name,
            title=self.summary,
            severity=Severity(self.rule.severity),
            category=Category(self.rule.category),
            source=Source.TRAP if self.rule.condition.type == "event" else Source.RULE,
            starts_at=self.starts_at,
            labels=dict(self.labels),
            assets=(self.source[1],) if self.source else (),
            value=self.value,
            summary=self.summary,
            description=self.description,
            plan_url=self.plan_url,
        )


States = Mapping[str, AlertState]  # by fingerprint


def evaluate(
    rules: Sequence[RuleConfig],
    state: State,
    now: datetime,
    previous: States,
    *,
    sources: Iterable[SourceRef] | None = None,
    events: Sequence[Event] = (),
    plans: Mapping[str, str] | None = None,
    options: EvaluationOptions | None = None,
) -> tuple[list[AlertTransition], dict[str, AlertState]]:
    """Evaluate ``rules`` at ``now``; ``sources`` limits series rules to those sources (the others keep
    their states as they were). ``events`` are the events that arrived since the last call."""
    options = options or EvaluationOptions()
    t = now.timestamp()
    scope = None if sources is None else set(sources)
    ctx = EvalContext(state, t, options, scope)
    new_states: dict[str, AlertState] = dict(previous)
    transitions: list[AlertTransition] = []
    by_rule: dict[str, list[AlertState]] = {}
    for st in previous.values():
        by_rule.setdefault(st.rule, []).append(st)
    known = {r.name for r in rules}
    for fp, st in previous.items():  # a rule that was removed: forget (the runner resolves its incidents)
        if st.rule not in known:
            del new_states[fp]
    plans = plans or {}
    for rule in rules:
        emit = _Emitter(rule, now, t, plans.get(rule.name), options, transitions, new_states)
        prev = by_rule.get(rule.name, [])
        if isinstance(rule.condition, EventCondition):
            _evaluate_events(rule, rule.condition, ctx, events, prev, emit)
            continue
        observed: dict[tuple[SourceRef | None, tuple[tuple[str, str], ...]], Observation] = {}
        in_scope: set[SourceRef] = set()
        watched = {st.source for st in prev}
        for src in ctx.sources(rule.select):
            ref = (src.kind.value, src.name)
            if not isinstance(rule.condition, MissingCondition) and ctx.stale(src):
                continue  # keep what we had: we cannot see
            in_scope.add(ref)
            for obs in observe(rule, src, ctx, ref in watched):
                observed[(obs.source, obs.series)] = obs
        for st in prev:
            if st.series is not None:
                obs = observed.pop((st.source, st.series), None)
            else:  # recovered from the store after a restart: find it by fingerprint, once
                obs = _pop_by_fingerprint(observed, st)
            if obs is None:
                if st.source is not None and st.source not in in_scope:
                    continue  # out of this call's scope, stale, or unknown (after a restart): unchanged
                emit.gone(st)
            else:
                emit.step(st, obs)
        for obs in observed.values():
            if obs.trigger:
                emit.start(obs.fingerprint, obs)
    return transitions, new_states


def _pop_by_fingerprint(
    observed: dict[tuple[SourceRef | None, tuple[tuple[str, str], ...]], Observation], st: AlertState
) -> Observation | None:
    for key, obs in observed.items():
        if key[0] == st.source and obs.fingerprint == st.fingerprint:
            return observed.pop(key)
    return None


class _Emitter:
    def __init__(
        self,
        rule: RuleConfig,
        now: datetime,
        t: float,
        plan: str | None,
        options: EvaluationOptions,
        out: list[AlertTransition],
        states: dict[str, AlertState],
    ) -> None:
        self.rule, self.now, self.t, self.plan, self.options = rule, now, t, plan, options
        self.out, self.states = out, states

    def _transition(self, kind: TransitionKind, st: AlertState, value: float | None) -> None:
        self.out.append(
            AlertTransition(
                kind=kind,
                rule=self.rule,
                fingerprint=st.fingerprint,
                labels=st.labels,
                value=value,
                at=self.now,
                source=st.source,
                starts_at=datetime.fromtimestamp(st.active_since, UTC),
                plan_url=self.plan,
            )
        )

    def start(self, fp: str, obs: Observation, *, since: float | None = None) -> None:
        st = AlertState(
            rule=self.rule.name,
            fingerprint=fp,
            labels=obs.labels,
            phase=Phase.PENDING,
            active_since=self.t if since is None else since,
            value=obs.value,
            source=obs.source,
            series=obs.series if obs.src is not None else None,
        )
        self.states[fp] = st
        self._maybe_fire(st)

    def _maybe_fire(self, st: AlertState) -> AlertState:
        if self.t - st.active_since >= self.rule.for_:
            fired = replace(
                st, phase=Phase.FIRING, fired_at=self.t, reported_value=st.value, reported_at=self.t
            )
            self.states[st.fingerprint] = fired
            self._transition(TransitionKind.FIRING, fired, st.value)
            return fired
        return st

    def step(self, st: AlertState, obs: Observation) -> None:
        if st.phase is Phase.PENDING:
            if not obs.trigger:
                del self.states[st.fingerprint]
                return
            st = replace(st, value=obs.value)
            self.states[st.fingerprint] = st
            self._maybe_fire(st)
            return
        if obs.cleared:
            self.resolve(st, obs.value)
            return
        st = replace(st, value=obs.value, series=obs.series if obs.src is not None else st.series)
        if (
            obs.value != st.reported_value
            and st.reported_at is not None
            and self.t - st.reported_at >= self.options.update_interval_seconds
        ):
            st = replace(st, reported_value=obs.value, reported_at=self.t)
            self._transition(TransitionKind.UPDATED, st, obs.value)
        self.states[st.fingerprint] = st

    def gone(self, st: AlertState) -> None:
        """The series is no longer there: a firing alert resolves, a pending one is forgotten."""
        if st.phase is Phase.FIRING:
            self.resolve(st, st.value)
        else:
            del self.states[st.fingerprint]

    def resolve(self, st: AlertState, value: float | None) -> None:
        del self.states[st.fingerprint]
        if st.phase is Phase.FIRING:
            self._transition(TransitionKind.RESOLVED, st, value)


# ----------------------------------------------------------------------------------------------- events


def _evaluate_events(
    rule: RuleConfig,
    c: EventCondition,
    ctx: EvalContext,
    events: Sequence[Event],
    prev: list[AlertState],
    emit: _Emitter,
) -> None:
    """Events open (or count on) their alert and clear it; then every pending alert of the rule whose ``for:``
    is served fires, and one without a new event for ``timeout`` resolves.

    An event may have been received after ``emit.t`` (the runner's pass took its time before the event came in,
    or the sender's clock is ahead): its alert starts at ``emit.t``, never in the future, or ``now - since >=
    for`` would not hold now and the alert would never fire. ``last_event_at`` stays the event's own time (the
    timeout runs from it). Pending alerts are looked at on every call, not only when an event of theirs comes:
    that is how a ``for:`` is served and how an alert put back to pending after a store failure fires again."""
    current = {st.fingerprint: st for st in prev}
    for ev in sorted(events, key=lambda e: e.received_at):
        opens = full_match(c.event, ev.kind) and matches(c.match, ev.labels.items())
        clears = c.clear_event is not None and full_match(c.clear_event, ev.kind)
        if not (opens or clears):
            continue
        labels, ref = _event_labels(rule, c, ctx.state, ev)
        fp = fingerprint_for(rule.name, labels)
        st = current.get(fp)
        if opens:
            if st is None:
                obs = Observation(rule, None, (), 1.0, True, False, labels=labels, source=ref)
                emit.start(fp, obs, since=min(ev.received_at, emit.t))
                st = emit.states.get(fp)
                if st is not None:
                    st = replace(st, last_event_at=ev.received_at)
                    emit.states[fp] = st
                    current[fp] = st
            else:
                count = (st.value or 0.0) + 1.0
                st = replace(st, value=count, last_event_at=max(ev.received_at, st.last_event_at or 0.0))
                emit.states[fp] = current[fp] = st
        elif st is not None:
            emit.resolve(st, st.value)
            del current[fp]
    for st in list(current.values()):
        expires = (st.last_event_at or st.active_since) + c.timeout
        if st.phase is Phase.PENDING and st.active_since + rule.for_ <= expires:  # held for ``for:`` in time
            st = emit._maybe_fire(st)
        if emit.t >= expires:
            emit.resolve(st, st.value)


def _event_labels(
    rule: RuleConfig, c: EventCondition, state: State, ev: Event
) -> tuple[dict[str, str], SourceRef | None]:
    labels = {k: v for k, v in ev.labels.items() if not c.key or k in c.key}
    src = None
    if ev.source_name:
        kinds = [SourceKind(ev.source_kind)] if ev.source_kind in ("agent", "snmp") else list(SourceKind)
        src = next((s for k in kinds if (s := state.get(k, ev.source_name)) is not None), None)
    if src is not None:
        base = source_labels(src)
        ref: SourceRef | None = (src.kind.value, src.name)
    else:  # not in the inventory: name it by what we know
        base = {"device": ev.source_name or ev.labels.get("address", "unknown")}
        ref = None
    base.update(labels)
    base.update(rule.labels)
    return base, ref
