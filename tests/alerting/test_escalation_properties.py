"""Hypothesis: plan is idempotent, nobody is paged twice for one step, levels climb one at a time; config errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.escalation import (
    Escalate,
    EscalationState,
    IncidentView,
    Page,
    RoundDone,
    apply,
    next_due,
    plan,
    plan_one,
    state_from_json,
    state_to_json,
)
from alerting.escalation_config import EscalationConfig, load_escalation_config
from alerting.rosters import load_roster
from alerting.yaml_lines import ConfigError

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 2, 19, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # spans the 20:00 shift change

ROSTER = load_roster(REPO / "rosters")
POLICIES = load_escalation_config(REPO / "rosters" / "escalation.yaml", ROSTER.config)

incidents = st.builds(
    lambda n, sev, cat, role, opened, ack, res: IncidentView(
        id=f"INC-2026-{n:06d}",
        severity=sev,
        category=cat,
        labels={"role": role},
        opened_at=T0 + timedelta(seconds=opened),
        acknowledged_at=None if ack is None else T0 + timedelta(seconds=opened + ack),
        resolved_at=None if res is None else T0 + timedelta(seconds=opened + res),
    ),
    st.integers(1, 999),
    st.sampled_from(["P1", "P2", "P3", "P4"]),
    st.sampled_from(["system_failure", "network_outage", "data_loss", "security_event", "other"]),
    st.sampled_from(["database", "web", "switch"]),
    st.integers(0, 3600),
    st.none() | st.integers(0, 7200),
    st.none() | st.integers(0, 7200),
)


@settings(max_examples=80, deadline=None)
@given(
    batch=st.lists(incidents, min_size=1, max_size=4, unique_by=lambda i: i.id),
    steps=st.lists(st.integers(1, 900), min_size=1, max_size=30),
)
def test_plan_is_idempotent_and_pages_each_step_once(batch: list[IncidentView], steps: list[int]) -> None:
    now = T0
    state = {i.id: i for i in batch}
    keys: list[str] = []
    for step in steps:
        now += timedelta(seconds=step)
        actions = plan(list(state.values()), POLICIES, ROSTER, now)
        keys += [a.idempotency_key for a in actions if isinstance(a, Page)]
        for a in actions:
            if isinstance(a, Escalate):
                assert a.to_level == state[a.incident_id].escalation.level + 1  # one level at a time
        before = {i: inc.escalation for i, inc in state.items()}
        state = {i: apply(inc, actions) for i, inc in state.items()}
        # what the store keeps is JSON: planning must work from the round-tripped state
        state = {
            i: IncidentView(
                **{
                    **inc.__dict__,
                    "escalation": state_from_json(json.loads(json.dumps(state_to_json(inc.escalation)))),
                }
            )
            for i, inc in state.items()
        }
        assert (
            plan(list(state.values()), POLICIES, ROSTER, now) == []
        )  # applying, then replanning: nothing new
        for i, inc in state.items():
            assert inc.escalation.level >= before[i].level
            if inc.acknowledged_at is not None and inc.acknowledged_at <= now - timedelta(seconds=step):
                assert inc.escalation.level == before[i].level  # no climbing after an acknowledgement
    assert len(keys) == len(set(keys))


# The example policies, and odd ones: a first level that waits, a repeat every 0 s (one page, then nothing),
# stakeholders told of everything, levels since the previous one
ODD = EscalationConfig.model_validate(
    {
        "policies": [
            {
                "id": "odd",
                "match": {"categories": ["other", "security_event"]},
                "levels": [
                    {
                        "delay": 120,
                        "targets": [{"position": "first-line"}],
                        "repeat": 3,
                        "repeat_interval": 0,
                    },
                    {"delay": 90, "since": "previous", "targets": [{"position": "it-head"}], "repeat": 2},
                    {"delay": 600, "targets": [{"position": "it-head"}], "repeat": 1, "repeat_interval": 45},
                ],
                "stakeholders": {
                    "targets": [{"position": "emergency-command"}],
                    "severities": ["P1", "P2", "P3", "P4"],
                },
            },
            *POLICIES.model_dump()["policies"],
        ]
    }
)


@settings(max_examples=150, deadline=None)
@given(
    batch=st.lists(incidents, min_size=1, max_size=4, unique_by=lambda i: i.id),
    steps=st.lists(st.tuples(st.integers(1, 1200), st.booleans()), min_size=1, max_size=30),
    odd=st.booleans(),
)
def test_next_due_is_exactly_when_plan_has_something_to_do(
    batch: list[IncidentView], steps: list[tuple[int, bool]], odd: bool
) -> None:
    """A loop that plans an incident only once ``next_due`` has come gets the same actions as planning it every
    time: nothing is ever due before ``next_due``, and something is due at it. Some steps lose their
    ``RoundDone``s (a level reached, its first round not recorded) to reach every state."""
    policies = ODD if odd else POLICIES
    tick = timedelta(microseconds=1)
    after = T0
    state = {i.id: i for i in batch}
    for step, lose_rounds in steps:
        now = after + timedelta(seconds=step)
        for inc in state.values():
            due = next_due(inc, policies, after)
            probes = {after, now, after + (now - after) / 3, after + (now - after) / 2}
            if due is not None:
                assert due >= after
                assert plan_one(inc, policies, ROSTER, due), (inc, due)  # something at next_due itself
                probes |= {due, due - tick, due + tick}
            for t in sorted(p for p in probes if p >= after):
                if plan_one(inc, policies, ROSTER, t):
                    assert due is not None and due <= t, (inc, t, due)
        actions = plan(list(state.values()), policies, ROSTER, now)
        if lose_rounds:
            actions = [a for a in actions if not isinstance(a, RoundDone)]
        state = {i: apply(inc, actions) for i, inc in state.items()}
        after = now


ESC = """\
policies:
  - id: p
    levels:
      - delay: 0m
        targets: [{team: systems, layer: primary}]
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    f = tmp_path / "escalation.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_escalation_config(f, ROSTER.config)
    return [str(p) for p in exc.value.problems]


def test_the_minimal_policy_file_loads(tmp_path: Path) -> None:
    f = tmp_path / "escalation.yaml"
    f.write_text(ESC, encoding="utf-8")
    cfg = load_escalation_config(f, ROSTER.config)
    assert isinstance(cfg, EscalationConfig)
    assert cfg.p1_immediate[0].position == "it-head"


def test_bad_policies_name_file_line_and_field(tmp_path: Path) -> None:
    text = ESC + (
        "      - delay: soon\n"
        "        targets: [{team: systems}]\n"
        "      - delay: 5m\n"
        "        since: previous\n"
        "        targets: [{person: a, position: it-head}]\n"
    )
    f = tmp_path / "escalation.yaml"
    assert problems(tmp_path, text) == [
        f"{f}:6: policies[0].levels[1].delay: a duration is a number with s, m or h, e.g. '30s', '15m', '1h'",
        f"{f}:7: policies[0].levels[1].targets[0]: a team target needs both team and layer",
        f"{f}:10: policies[0].levels[2].targets[0]: a target is one of {{team, layer}}, "
        "{person} or {position}",
    ]


def test_delays_since_opened_must_increase(tmp_path: Path) -> None:
    text = ESC + "      - delay: 0m\n        targets: [{position: it-head}]\n"
    [p] = problems(tmp_path, text)
    assert p == (
        f"{tmp_path / 'escalation.yaml'}:2: policies[0]: level 2: delays since opened must "
        "increase from level to level"
    )


def test_targets_must_exist_in_the_roster(tmp_path: Path) -> None:
    text = ESC.replace(
        "{team: systems, layer: primary}", "{team: radiology, layer: primary}, {person: ghost}"
    )
    text += "p1_immediate: [{team: network, layer: specialist}]\n"
    f = tmp_path / "escalation.yaml"
    assert problems(tmp_path, text) == [
        f"{f}:6: p1_immediate[0].layer: team 'network' has no specialist layer",
        f"{f}:5: policies[0].levels[0].targets[0].team: no team with id 'radiology' in the roster",
        f"{f}:5: policies[0].levels[0].targets[1].person: no person with id 'ghost' in the roster",
    ]


def test_the_state_round_trips_through_json() -> None:
    state = EscalationState(
        policy="network",
        level=2,
        level_started_at=(T0, T0 + timedelta(minutes=15)),
        last_round=1,
        updates_sent=frozenset({"opened", "escalated:2"}),
    )
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state
    assert state_from_json({}) == EscalationState()
