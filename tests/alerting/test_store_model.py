"""The pure parts under the store: the model's enums and matchers, how actions change an incident, the audit hash."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.model import (
    Acknowledge,
    Action,
    AttachToParent,
    Category,
    Comment,
    Escalate,
    Incident,
    MaintenanceWindow,
    Matcher,
    Resolve,
    SetFlapping,
    Severity,
    Source,
    Status,
    TimelineKind,
    fingerprint_for,
)
from alerting.store.errors import InvalidTransition
from alerting.store.transitions import apply_actions, audit_hash, format_time, incident_number, parse_time

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

INCIDENT = Incident(
    id="i-1",
    number="INC-2026-000001",
    title="HIS database down",
    severity=Severity.CRITICAL,
    category=Category.SYSTEM_FAILURE,
    status=Status.OPEN,
    source=Source.RULE,
    fingerprint="fp",
    rule="host_silent",
    labels={"host": "his-db-01"},
    assets=("his-db-01",),
    value=None,
    summary="",
    description="",
    plan_url=None,
    opened_at=T0,
    opened_by="system",
    last_seen_at=T0,
)


def test_severities_map_to_priorities_both_ways() -> None:
    assert [s.priority for s in Severity] == ["P1", "P2", "P3", "P4"]
    assert [Severity.from_priority(p) for p in ("P1", "p2", " P3 ", "P4")] == list(Severity)
    with pytest.raises(ValueError, match="P5"):
        Severity.from_priority("P5")


def test_closed_enums_reject_unknown_values() -> None:
    assert {c.value for c in Category} == {
        "system_failure",
        "network_outage",
        "data_loss",
        "security_event",
        "other",
    }
    assert {s.value for s in Source} == {"rule", "trap", "alertmanager", "api", "manual", "drill"}
    with pytest.raises(ValueError):
        Category("fire")


def test_fingerprints_ignore_label_order_and_separate_rules() -> None:
    assert fingerprint_for("disk", {"a": "1", "b": "2"}) == fingerprint_for("disk", {"b": "2", "a": "1"})
    assert fingerprint_for("disk", {"a": "1"}) != fingerprint_for("cpu", {"a": "1"})
    assert fingerprint_for("disk", {"a": "1"}) != fingerprint_for("disk", {"a": "2"})


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        (Matcher("host", "=", "pacs-01"), {"host": "pacs-01"}, True),
        (Matcher("host", "=", "pacs-01"), {"host": "pacs-011"}, False),
        (Matcher("host", "!=", "pacs-01"), {"host": "pacs-02"}, True),
        (Matcher("host", "!=", "pacs-01"), {}, True),
        (Matcher("host", "=~", "pacs-0[1-3]"), {"host": "pacs-03"}, True),
        (Matcher("host", "=~", "pacs-0[1-3]"), {"host": "xpacs-03"}, False),  # full match, not search
        (Matcher("host", "!~", "pacs-.*"), {"host": "his-01"}, True),
        (Matcher("role", "=", ""), {"host": "x"}, True),  # a missing label is the empty string
    ],
)
def test_matchers(matcher: Matcher, labels: dict[str, str], expected: bool) -> None:
    assert matcher.matches(labels) is expected


def test_matchers_are_validated() -> None:
    with pytest.raises(ValueError, match="operator"):
        Matcher("host", "==", "x")
    with pytest.raises(ValueError, match="empty label"):
        Matcher("", "=", "x")


def test_a_window_is_active_from_start_until_its_end_or_early_end() -> None:
    w = MaintenanceWindow(
        id="w",
        matchers=(Matcher("host", "=", "x"),),
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        author="carol",
        reason="upgrade",
        created_at=T0,
    )
    assert [w.active_at(T0 + timedelta(minutes=m)) for m in (-1, 0, 59, 60)] == [False, True, True, False]
    early = dataclasses.replace(w, ended_at=T0 + timedelta(minutes=10))
    assert [early.active_at(T0 + timedelta(minutes=m)) for m in (9, 10)] == [True, False]


def test_acknowledge_then_resolve() -> None:
    acked, entries = apply_actions(INCIDENT, [Acknowledge(by="alice")], T0)
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at, acked.version) == (
        Status.ACKNOWLEDGED,
        "alice",
        T0,
        2,
    )
    assert [e.kind for e in entries] == [TimelineKind.ACKNOWLEDGED]
    done, entries = apply_actions(acked, [Resolve(by="bob", reason="restarted")], T0 + timedelta(minutes=1))
    assert (done.status, done.resolved_by, done.version) == (Status.RESOLVED, "bob", 3)
    assert entries[0].details == {"reason": "restarted"}


@pytest.mark.parametrize("action", [Acknowledge(by="a"), Escalate(to_level=1), AttachToParent("p")])
def test_invalid_on_a_resolved_incident(action: Action) -> None:
    resolved = dataclasses.replace(INCIDENT, status=Status.RESOLVED, resolved_at=T0)
    with pytest.raises(InvalidTransition):
        apply_actions(resolved, [action], T0)


def test_a_resolved_incident_still_takes_comments_but_not_empty_ones() -> None:
    resolved = dataclasses.replace(INCIDENT, status=Status.RESOLVED, resolved_at=T0)
    same, entries = apply_actions(resolved, [Comment(by="a", text="post-mortem: RCA-12")], T0)
    assert same == resolved and [e.kind for e in entries] == [TimelineKind.COMMENT]
    with pytest.raises(InvalidTransition):
        apply_actions(INCIDENT, [Comment(by="a", text="  ")], T0)


ACTIONS = st.one_of(
    st.builds(Acknowledge, by=st.sampled_from(["alice", "bob"])),
    st.builds(Resolve, by=st.just("alice")),
    st.builds(Comment, by=st.just("alice"), text=st.just("note")),
    st.builds(SetFlapping, flapping=st.booleans()),
    st.builds(AttachToParent, parent_id=st.sampled_from([None, "p-1", "p-2"])),
)


@given(st.lists(ACTIONS, max_size=6))
def test_the_version_moves_by_one_exactly_when_the_state_changes(actions: list[Action]) -> None:
    try:
        new, _ = apply_actions(INCIDENT, actions, T0)
    except InvalidTransition:
        return
    changed = dataclasses.replace(new, version=INCIDENT.version) != INCIDENT
    assert new.version == INCIDENT.version + (1 if changed else 0)


@given(st.lists(ACTIONS, max_size=6))
def test_applying_the_same_acknowledge_or_resolve_twice_changes_nothing_more(actions: list[Action]) -> None:
    try:
        once, _ = apply_actions(INCIDENT, actions, T0)
        if once.status is Status.RESOLVED:
            return
        acked, _ = apply_actions(once, [Acknowledge(by="zed")], T0)
        again, entries = apply_actions(acked, [Acknowledge(by="zed")], T0)
    except InvalidTransition:
        return
    assert again == acked and entries == []


def test_the_audit_hash_covers_every_field() -> None:
    base = {"seq": 1, "at": T0, "actor": "a", "action": "x", "target": "t", "details_json": "{}"}
    h = audit_hash("0" * 64, **base)  # type: ignore[arg-type]
    variants = [
        {**base, "seq": 2},
        {**base, "at": T0 + timedelta(microseconds=1)},
        {**base, "actor": "b"},
        {**base, "action": "y"},
        {**base, "target": "u"},
        {**base, "details_json": '{"k":1}'},
    ]
    assert all(audit_hash("0" * 64, **v) != h for v in variants)  # type: ignore[arg-type]
    assert audit_hash("1" * 64, **base) != h  # type: ignore[arg-type]


def test_times_round_trip_through_the_sqlite_text_form_and_sort_like_instants() -> None:
    t = datetime(2026, 11, 28, 16, 0, 0, 123456, tzinfo=UTC)
    assert parse_time(format_time(t)) == t
    east8 = t.astimezone(timezone(timedelta(hours=8)))  # Beijing time: same instant, same text
    assert format_time(east8) == format_time(t)
    assert format_time(t) < format_time(t + timedelta(microseconds=1))
    with pytest.raises(ValueError, match="tz-aware"):
        format_time(datetime(2026, 1, 1))


def test_numbers_are_zero_padded_per_year() -> None:
    assert incident_number(2026, 123) == "INC-2026-000123"
    assert incident_number(2026, 1_234_567) == "INC-2026-1234567"


def test_both_stores_implement_every_protocol_method_with_its_signature() -> None:
    import inspect

    from alerting.store.postgres import PostgresIncidentStore
    from alerting.store.protocol import IncidentStore
    from alerting.store.sqlite import SqliteIncidentStore

    wanted = {
        name: inspect.signature(member)
        for name, member in vars(IncidentStore).items()
        if inspect.iscoroutinefunction(member)
    }
    assert {"open_or_touch", "apply", "claim_due", "verify_audit_chain", "count_open_by"} <= wanted.keys()
    for cls in (SqliteIncidentStore, PostgresIncidentStore):
        for name, signature in wanted.items():
            have = inspect.signature(getattr(cls, name))
            assert list(have.parameters) == list(signature.parameters), f"{cls.__name__}.{name}"
            assert [p.kind for p in have.parameters.values()] == [
                p.kind for p in signature.parameters.values()
            ]
            assert [p.default for p in have.parameters.values()] == [
                p.default for p in signature.parameters.values()
            ], f"{cls.__name__}.{name}"
