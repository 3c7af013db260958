"""The escalation engine: pure ``plan(incidents, policies, roster, now) -> actions``.

Each incident carries its escalation state as persisted by the store. ``plan`` decides, from that state and
``now`` alone, what is due: the first level once its delay has passed, a repeat page, the next level, stakeholder
updates. ``apply`` folds the actions back into the state, exactly as the store must persist them. Planning again at
the same ``now`` after applying yields nothing, and a plan that was computed but never applied (a crash) is
computed again with the same idempotency keys, so the outbox pages once.

Timing rules:
- Level 1 starts ``delay`` after the incident opened.
- A later level with ``since: previous`` starts ``delay`` after the previous level actually started. With
  ``since: opened`` it starts at ``opened + delay``, but never sooner after the previous level than the
  configured difference between the two delays: after an outage each level still gets its full window, and
  at most one level is taken per plan, so no level is ever skipped.
- Repeat ``r`` of a level is due ``r * repeat_interval`` after the level started; after an outage only the latest
  due repeat is paged.
- Acknowledging or resolving stops all pages. Stakeholders get each progress update at most once.

``next_due(incident, policies, after)`` says, from the same inputs, the earliest instant at or after ``after`` at
which ``plan`` has anything to do for the incident (``None``: never, as it stands). A caller that keeps it per
incident can plan only the incidents whose time has come and get exactly the same actions; the roster plays no
part in it (it decides who is paged, never whether something is due).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.escalation_config import EscalationConfig, Level, Policy, Severity, Target, UpdateEvent
from alerting.roster_config import Person
from alerting.rosters import Roster, on_duty, position_holders


@dataclass(frozen=True)
class EscalationState:
    """What the store persists per incident."""

    policy: str | None = None
    """The policy chosen when escalation started (routing is not redone if labels change later)."""
    level: int = 0
    """The current level, 1-based; 0 before the first level starts."""
    level_started_at: tuple[datetime, ...] = ()
    """When each level reached so far started (index 0 is level 1)."""
    last_round: int = -1
    """The last page round done at the current level: 0 is the first page, 1.. the repeats."""
    updates_sent: frozenset[str] = frozenset()
    """Stakeholder updates already sent: ``opened``, ``escalated:2``, ``acknowledged``, ``resolved``."""


def state_to_json(state: EscalationState) -> dict[str, Any]:
    """The state as plain JSON (what the store keeps); ``state_from_json`` reverses it exactly."""
    return {
        "policy": state.policy,
        "level": state.level,
        "level_started_at": [t.isoformat() for t in state.level_started_at],
        "last_round": state.last_round,
        "updates_sent": sorted(state.updates_sent),
    }


def state_from_json(data: Mapping[str, Any]) -> EscalationState:
    """The state from ``state_to_json``'s output; an empty mapping (never escalated) is the initial state."""
    if not data:
        return EscalationState()
    return EscalationState(
        policy=data["policy"],
        level=int(data["level"]),
        level_started_at=tuple(datetime.fromisoformat(t) for t in data["level_started_at"]),
        last_round=int(data["last_round"]),
        updates_sent=frozenset(data["updates_sent"]),
    )


@dataclass(frozen=True)
class IncidentView:
    """The slice of an incident the engine needs."""

    id: str
    severity: Severity
    category: str
    opened_at: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    escalation: EscalationState = EscalationState()


@dataclass(frozen=True)
class Escalate:
    incident_id: str
    to_level: int
    policy: str
    at: datetime


@dataclass(frozen=True)
class Page:
    incident_id: str
    level: int
    round: int
    person: Person
    reason: str
    idempotency_key: str


@dataclass(frozen=True)
class RoundDone:
    """A page round is done; ``paged`` empty means nobody was on duty for its targets (log it loudly)."""

    incident_id: str
    level: int
    round: int
    paged: tuple[str, ...]


@dataclass(frozen=True)
class NotifyStakeholders:
    incident_id: str
    event: UpdateEvent
    level: int
    people: tuple[Person, ...]
    idempotency_key: str


Action = Escalate | Page | RoundDone | NotifyStakeholders


def route(incident: IncidentView, policies: EscalationConfig) -> Policy | None:
    """The first policy whose match fits the incident."""
    for p in policies.policies:
        m = p.match
        if m.categories and incident.category not in m.categories:
            continue
        if m.severities and incident.severity not in m.severities:
            continue
        if any(incident.labels.get(k) != v for k, v in m.labels.items()):
            continue
        return p
    return None


def resolve_targets(roster: Roster, targets: Iterable[Target], at: datetime) -> list[Person]:
    """The people the targets name at ``at``, each once, in target order."""
    seen: dict[str, Person] = {}
    for t in targets:
        if t.team is not None and t.layer is not None:
            people = on_duty(roster, t.team, t.layer, at) if t.team in roster.teams else []
        elif t.person is not None:
            people = [roster.people[t.person]] if t.person in roster.people else []
        else:
            people = position_holders(roster, t.position or "", at)
        for p in people:
            seen.setdefault(p.id, p)
    return list(seen.values())


def _seconds(n: int) -> timedelta:
    return timedelta(seconds=n)


def level_due(policy: Policy, incident: IncidentView, level: int) -> datetime:
    """When ``level`` (1-based) starts, given the levels already reached in the incident's state."""
    spec = policy.levels[level - 1]
    if level == 1:
        return incident.opened_at + _seconds(spec.delay)
    prev_started = incident.escalation.level_started_at[level - 2]
    if spec.since == "previous":
        return prev_started + _seconds(spec.delay)
    prev = policy.levels[level - 2]
    window = spec.delay - (prev.delay if prev.since == "opened" else 0)
    return max(incident.opened_at + _seconds(spec.delay), prev_started + _seconds(max(window, 0)))


def _due_round(spec: Level, started: datetime, now: datetime) -> int:
    if spec.repeat == 0 or spec.repeat_interval == 0:
        return 0
    return min(spec.repeat, int((now - started).total_seconds() // spec.repeat_interval))


class _Resolver:
    """``resolve_targets`` at one instant, memoised: many incidents paging one team ask the roster once."""

    def __init__(self, roster: Roster, now: datetime) -> None:
        self.roster, self.now = roster, now
        self._memo: dict[tuple[Target, ...], list[Person]] = {}

    def __call__(self, targets: Sequence[Target]) -> list[Person]:
        key = tuple(targets)
        if key not in self._memo:
            self._memo[key] = resolve_targets(self.roster, key, self.now)
        return self._memo[key]


def _pages(
    incident: IncidentView, level: int, rnd: int, targets: Sequence[Target], resolve: _Resolver, why: str
) -> list[Action]:
    people = resolve(targets)
    actions: list[Action] = [
        Page(incident.id, level, rnd, p, why, f"{incident.id}/L{level}/R{rnd}/{p.id}") for p in people
    ]
    actions.append(RoundDone(incident.id, level, rnd, tuple(p.id for p in people)))
    return actions


def _update_key(event: UpdateEvent, level: int) -> str:
    """How ``updates_sent`` remembers an update (one per escalated level)."""
    return f"escalated:{level}" if event == "escalated" else event


def _update_wanted(incident: IncidentView, policy: Policy, event: UpdateEvent, level: int) -> bool:
    """Whether stakeholders get this update and have not had it yet."""
    s = policy.stakeholders
    if s is None or incident.severity not in s.severities or event not in s.events:
        return False
    return _update_key(event, level) not in incident.escalation.updates_sent


def _update(
    incident: IncidentView, policy: Policy, event: UpdateEvent, level: int, resolve: _Resolver
) -> list[Action]:
    if not _update_wanted(incident, policy, event, level):
        return []
    s = policy.stakeholders
    assert s is not None
    key = _update_key(event, level)
    people = tuple(resolve(s.targets))
    return [NotifyStakeholders(incident.id, event, level, people, f"{incident.id}/update/{key}")]


def _policy_of(incident: IncidentView, policies: EscalationConfig) -> Policy | None:
    """The policy escalation started with, else (not started, or that policy is gone) the routed one."""
    state = incident.escalation
    return next((p for p in policies.policies if p.id == state.policy), None) or route(incident, policies)


_ALWAYS = datetime.min.replace(tzinfo=UTC)


def _next_step(incident: IncidentView, policy: Policy) -> datetime | None:
    """When the unacknowledged, unresolved incident's next level or next page round is due (``plan_one``'s
    escalation branch); ``None`` if neither ever is."""
    state = incident.escalation
    level = state.level
    times: list[datetime] = []
    if level + 1 <= len(policy.levels):
        times.append(level_due(policy, incident, level + 1))
    if 1 <= level <= len(policy.levels):
        spec = policy.levels[level - 1]
        if spec.repeat == 0 or spec.repeat_interval == 0:
            if state.last_round < 0:
                times.append(_ALWAYS)  # round 0 is due whatever the time
        elif state.last_round < spec.repeat:
            rnd = state.last_round + 1  # due once (now - started) // repeat_interval reaches it
            times.append(state.level_started_at[level - 1] + _seconds(rnd * spec.repeat_interval))
    return min(times, default=None)


def next_due(incident: IncidentView, policies: EscalationConfig, after: datetime) -> datetime | None:
    """The earliest instant ``t >= after`` at which ``plan_one(incident, policies, roster, t)`` returns actions,
    for the incident as it stands (its escalation state, acknowledged and resolved times); ``None`` if there is
    none. For every ``now >= after``: ``plan_one`` at ``now`` returns actions only if ``next_due <= now``, and it
    does return actions at ``next_due`` itself. The roster is not an input: it only decides who is paged."""
    policy = _policy_of(incident, policies)
    if policy is None:
        return None
    started = incident.escalation.level >= 1
    ack, res = incident.acknowledged_at, incident.resolved_at
    # plan_one's three branches hold on consecutive stretches of time: escalating before the first of
    # acknowledged/resolved, the acknowledged update from acknowledgement until resolution, then the resolved one
    stop = min((t for t in (ack, res) if t is not None), default=None)
    spans: list[tuple[datetime, datetime | None]] = []
    step = _next_step(incident, policy)
    if step is not None:
        spans.append((step, stop))
    if ack is not None and (res is None or ack < res) and started:
        if _update_wanted(incident, policy, "acknowledged", incident.escalation.level):
            spans.append((ack, res))
    if (
        res is not None
        and started
        and _update_wanted(incident, policy, "resolved", incident.escalation.level)
    ):
        spans.append((res, None))
    due = [max(start, after) for start, end in spans if end is None or max(start, after) < end]
    return min(due, default=None)


def plan_one(
    incident: IncidentView,
    policies: EscalationConfig,
    roster: Roster,
    now: datetime,
    *,
    _resolve: _Resolver | None = None,
) -> list[Action]:
    """What is due at ``now`` for one incident."""
    resolve = _resolve or _Resolver(roster, now)
    state = incident.escalation
    policy = _policy_of(incident, policies)
    if policy is None:
        return []
    started = state.level >= 1
    if incident.resolved_at is not None and incident.resolved_at <= now:
        return _update(incident, policy, "resolved", state.level, resolve) if started else []
    if incident.acknowledged_at is not None and incident.acknowledged_at <= now:
        return _update(incident, policy, "acknowledged", state.level, resolve) if started else []

    actions: list[Action] = []
    level = state.level
    nxt = level + 1
    if nxt <= len(policy.levels) and now >= level_due(policy, incident, nxt):
        spec = policy.levels[nxt - 1]
        targets = list(spec.targets)
        if nxt == 1 and incident.severity == "P1":
            targets += policies.p1_immediate
        if nxt == 1:
            why = f"{incident.severity} {incident.category}: level 1 of {policy.id}"
        else:
            waited = int((now - incident.opened_at).total_seconds() // 60)
            why = f"{incident.severity} {incident.category}: not acknowledged after {waited} min, level {nxt}"
        actions.append(Escalate(incident.id, nxt, policy.id, now))
        actions += _pages(incident, nxt, 0, targets, resolve, why)
        actions += _update(incident, policy, "opened" if nxt == 1 else "escalated", nxt, resolve)
        return actions
    if 1 <= level <= len(policy.levels):  # (a level past the end: the policy lost levels since)
        spec = policy.levels[level - 1]
        rnd = _due_round(spec, state.level_started_at[level - 1], now)
        if rnd > state.last_round:
            why = (
                f"{incident.severity} {incident.category}: still not acknowledged, level {level} repeat {rnd}"
            )
            actions += _pages(incident, level, rnd, spec.targets, resolve, why)
    return actions


def plan(
    incidents: Iterable[IncidentView], policies: EscalationConfig, roster: Roster, now: datetime
) -> list[Action]:
    """Everything due at ``now`` for every incident. Pure and idempotent (see the module docstring)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    resolve = _Resolver(roster, now)
    return [a for incident in incidents for a in plan_one(incident, policies, roster, now, _resolve=resolve)]


def apply(incident: IncidentView, actions: Iterable[Action]) -> IncidentView:
    """The incident with ``actions`` folded into its escalation state (what the store persists)."""
    state = incident.escalation
    for a in actions:
        if getattr(a, "incident_id", None) != incident.id:
            continue
        if isinstance(a, Escalate):
            state = replace(
                state,
                policy=a.policy,
                level=a.to_level,
                level_started_at=(*state.level_started_at, a.at),
                last_round=-1,
            )
        elif isinstance(a, RoundDone) and a.level == state.level:
            state = replace(state, last_round=max(state.last_round, a.round))
        elif isinstance(a, NotifyStakeholders):
            key = _update_key(a.event, a.level)
            state = replace(state, updates_sent=state.updates_sent | {key})
    return replace(incident, escalation=state)
