"""Invariants of the pure evaluator, over random value sequences (hypothesis)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.rules import Phase, TransitionKind, evaluate
from collector.state import SourceKind, State
from tests.alerting.test_rules import FS, FS_LABELS, T0, add_source, fs_rule, key, observe

values = st.lists(st.sampled_from([0.5, 0.84, 0.86, 0.9, 0.91, 0.95]), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(values, st.sampled_from([0, 15, 30, 60]), st.booleans())
def test_transitions_alternate_and_respect_trigger_clear_and_for(
    seq: list[float], for_seconds: int, hysteresis: bool
) -> None:
    condition = {"clear": {"op": "<", "value": 0.85}} if hysteresis else {}
    rule = fs_rule(condition=condition, **{"for": for_seconds})
    state = State()
    src = add_source(state)
    states: dict = {}
    firing = False
    above_since = None
    for i, value in enumerate(seq):
        now = T0 + timedelta(seconds=15 * i)
        observe(state, src, now, {key(FS, **FS_LABELS): value})
        transitions, states = evaluate([rule], state, now, states)
        again, same = evaluate([rule], state, now, states)  # idempotent at the same instant
        assert again == [] and same == states
        above_since = (above_since if above_since is not None else now) if value > 0.9 else None
        for t in transitions:
            if t.kind is TransitionKind.FIRING:
                assert not firing and value > 0.9
                assert above_since is not None and (now - above_since).total_seconds() >= for_seconds
                firing = True
            elif t.kind is TransitionKind.RESOLVED:
                assert firing
                assert value < 0.85 if hysteresis else value <= 0.9
                firing = False
        assert len(transitions) <= 1
        firing_states = [s for s in states.values() if s.phase is Phase.FIRING]
        assert len(firing_states) == (1 if firing else 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0.5, 0.95])), min_size=1, max_size=30))
def test_evaluating_source_by_source_equals_evaluating_all(reports: list[tuple[int, float]]) -> None:
    rule = fs_rule()
    full, parts = State(), State()
    full_states: dict = {}
    part_states: dict = {}
    for i, (host, value) in enumerate(reports):
        now = T0 + timedelta(seconds=i)
        for state in (full, parts):
            src = state.get(*_agent(host)) or add_source(state, f"host-{host}")
            observe(state, src, now, {key(FS, **FS_LABELS): value})
        a, full_states = evaluate([rule], full, now, full_states)
        b, part_states = evaluate([rule], parts, now, part_states, sources=[("agent", f"host-{host}")])
        assert [(t.kind, t.fingerprint) for t in a] == [(t.kind, t.fingerprint) for t in b]
    assert full_states == part_states


def _agent(host: int) -> tuple[SourceKind, str]:
    return SourceKind.AGENT, f"host-{host}"
