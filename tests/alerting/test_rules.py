"""The pure rule evaluator: explicit ``now``, hand-built ``State``, every condition type."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting.clock import FakeClock
from alerting.model import Category, Severity, Source, fingerprint_for
from alerting.rule_config import RuleConfig
from alerting.rules import (
    AlertState,
    Phase,
    TransitionKind,
    counter_rate,
    evaluate,
    hours_until,
)
from collector.state import Snapshot, SourceKind, SourceState, State

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
FS = "wardwatch_filesystem_used_ratio"
FS_LABELS = {"device": "/dev/sdb1", "fstype": "xfs", "mountpoint": "/data"}


def rule(condition: dict[str, Any], **over: Any) -> RuleConfig:
    body: dict[str, Any] = {
        "name": "TestRule",
        "condition": condition,
        "severity": "major",
        "category": "system_failure",
        "summary": "{host}: {value}",
    }
    body.update(over)
    return RuleConfig.model_validate(body)


def fs_rule(**over: Any) -> RuleConfig:
    cond = {"type": "threshold", "metric": FS, "op": ">", "value": 0.9}
    cond.update(over.pop("condition", {}))
    return rule(cond, **over)


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


def add_source(
    state: State,
    name: str = "his-db-01",
    *,
    kind: SourceKind = SourceKind.AGENT,
    labels: dict[str, str] | None = None,
    interval: float = 15.0,
    parent: str | None = None,
) -> SourceState:
    return state.upsert_source(
        kind,
        name,
        labels=labels if labels is not None else {"site": "main", "system": "HIS", "role": "db"},
        interval_seconds=interval,
        parent=parent,
    )


def observe(state: State, src: SourceState, at: datetime, samples: dict) -> None:
    t = at.timestamp()
    state.record(src, Snapshot(t, t, samples=samples))


@dataclass
class Run:
    """Evaluate a rule step by step, keeping the states like the runner does."""

    rules: list[RuleConfig]
    state: State
    states: dict[str, AlertState] = field(default_factory=dict)

    def at(self, now: datetime, **kw: Any) -> list[tuple[TransitionKind, float | None]]:
        transitions, self.states = evaluate(self.rules, self.state, now, self.states, **kw)
        return [(t.kind, t.value) for t in transitions]


@pytest.mark.parametrize(
    ("op", "threshold", "value", "fires"),
    [
        (">", 0.9, 0.95, True),
        (">", 0.9, 0.9, False),
        (">=", 0.9, 0.9, True),
        (">=", 0.9, 0.89, False),
        ("<", 0.1, 0.05, True),
        ("<", 0.1, 0.1, False),
        ("<=", 0.1, 0.1, True),
        ("<=", 0.1, 0.2, False),
        ("==", 0.0, 0.0, True),
        ("==", 0.0, 1.0, False),
        ("!=", 1.0, 2.0, True),
        ("!=", 1.0, 1.0, False),
    ],
)
def test_threshold_operators(op: str, threshold: float, value: float, fires: bool) -> None:
    state = State()
    src = add_source(state)
    observe(state, src, T0, {key(FS, **FS_LABELS): value})
    run = Run([fs_rule(condition={"op": op, "value": threshold})], state)
    assert run.at(T0) == ([(TransitionKind.FIRING, value)] if fires else [])


def test_threshold_is_per_label_set_and_labels_carry_asset_and_series_labels() -> None:
    state = State()
    src = add_source(state)
    observe(
        state,
        src,
        T0,
        {
            key(FS, **FS_LABELS): 0.95,
            key(FS, device="/dev/sda1", fstype="ext4", mountpoint="/"): 0.5,
            key(FS, device="/dev/sdc1", fstype="xfs", mountpoint="/pacs"): 0.97,
        },
    )
    transitions, states = evaluate([fs_rule()], state, T0, {})
    assert sorted(t.labels["mountpoint"] for t in transitions) == ["/data", "/pacs"]
    data = next(t for t in transitions if t.labels["mountpoint"] == "/data")
    assert dict(data.labels) == {
        "site": "main",
        "system": "HIS",
        "role": "db",
        "host": "his-db-01",
        **FS_LABELS,
    }
    assert data.fingerprint == fingerprint_for("TestRule", data.labels)
    assert set(states) == {t.fingerprint for t in transitions}
    alert = data.to_alert()
    assert (alert.severity, alert.category, alert.source) == (
        Severity.MAJOR,
        Category.SYSTEM_FAILURE,
        Source.RULE,
    )
    assert alert.assets == ("his-db-01",)
    assert alert.title == "his-db-01: 0.95"


def test_match_filters_series_labels_by_regex() -> None:
    state = State()
    src = add_source(state)
    observe(state, src, T0, {key(FS, **FS_LABELS): 0.95, key(FS, mountpoint="/boot"): 0.99})
    transitions, _ = evaluate([fs_rule(condition={"match": {"mountpoint": "/data.*"}})], state, T0, {})
    assert [t.labels["mountpoint"] for t in transitions] == ["/data"]


@pytest.mark.parametrize(
    ("select", "picked"),
    [
        ({}, {"his-db-01", "pacs-01", "core-sw-01"}),
        ({"kind": "agent"}, {"his-db-01", "pacs-01"}),
        ({"kind": "snmp"}, {"core-sw-01"}),
        ({"system": "HIS"}, {"his-db-01"}),
        ({"system": "HIS|PACS", "role": "db"}, {"his-db-01"}),
        ({"host": "pacs-.*"}, {"pacs-01"}),
        ({"device": "core-.*"}, {"core-sw-01"}),
        ({"site": "branch"}, set()),
        ({"labels": {"room": "B1-.*"}}, {"pacs-01"}),
    ],
)
def test_selector_picks_sources_by_asset_labels(select: dict, picked: set[str]) -> None:
    state = State()
    for name, kind, labels in [
        ("his-db-01", SourceKind.AGENT, {"site": "main", "system": "HIS", "role": "db"}),
        ("pacs-01", SourceKind.AGENT, {"site": "main", "system": "PACS", "role": "app", "room": "B1-02"}),
        ("core-sw-01", SourceKind.SNMP, {"site": "main", "system": "network", "role": "core"}),
    ]:
        src = add_source(state, name, kind=kind, labels=labels)
        observe(state, src, T0, {key(FS, **FS_LABELS): 0.95})
    transitions, _ = evaluate([fs_rule(select=select)], state, T0, {})
    assert {t.source[1] for t in transitions if t.source} == picked


def test_for_duration_goes_pending_then_firing_with_a_fake_clock() -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    run = Run([fs_rule(**{"for": "5m"})], state)
    for _ in range(20):  # 0 .. 285 s: pending
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
        assert run.at(clock.now()) == []
        assert [s.phase for s in run.states.values()] == [Phase.PENDING]
        clock.advance(15)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.96})  # 300 s
    assert run.at(clock.now()) == [(TransitionKind.FIRING, 0.96)]
    (st,) = run.states.values()
    assert st.phase is Phase.FIRING and st.active_since == T0.timestamp()


def test_pending_that_recovers_before_for_is_forgotten_without_transition() -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    run = Run([fs_rule(**{"for": 60})], state)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    assert run.at(clock.now()) == []
    clock.advance(30)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.5})
    assert run.at(clock.now()) == []
    assert run.states == {}
    clock.advance(30)  # fires again: the 60 s count starts again
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    assert run.at(clock.now()) == []
    clock.advance(59)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    assert run.at(clock.now()) == []
    clock.advance(1)
    observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.95})
    assert run.at(clock.now()) == [(TransitionKind.FIRING, 0.95)]


def test_hysteresis_keeps_firing_until_the_clear_condition_holds() -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    run = Run([fs_rule(condition={"clear": {"op": "<", "value": 0.85}})], state)
    steps = [
        (0.91, [(TransitionKind.FIRING, 0.91)]),
        (0.88, []),  # below the trigger, above the clear level: still firing
        (0.92, []),
        (0.86, []),
        (0.84, [(TransitionKind.RESOLVED, 0.84)]),
        (0.88, []),  # not above 0.9: does not fire again
        (0.93, [(TransitionKind.FIRING, 0.93)]),
    ]
    for value, expected in steps:
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): value})
        assert run.at(clock.now()) == expected, value
        clock.advance(15)


def test_without_clear_condition_resolves_as_soon_as_the_trigger_stops() -> None:
    state = State()
    src = add_source(state)
    run = Run([fs_rule()], state)
    observe(state, src, T0, {key(FS, **FS_LABELS): 0.95})
    assert run.at(T0) == [(TransitionKind.FIRING, 0.95)]
    t1 = T0 + timedelta(seconds=15)
    observe(state, src, t1, {key(FS, **FS_LABELS): 0.89})
    assert run.at(t1) == [(TransitionKind.RESOLVED, 0.89)]
    assert run.states == {}


def test_firing_alert_whose_series_disappears_resolves() -> None:
    state = State()
    src = add_source(state)
    run = Run([fs_rule()], state)
    observe(state, src, T0, {key(FS, **FS_LABELS): 0.95})
    run.at(T0)
    t1 = T0 + timedelta(seconds=15)
    observe(state, src, t1, {})  # the filesystem was unmounted
    assert run.at(t1) == [(TransitionKind.RESOLVED, 0.95)]


def test_a_silent_source_keeps_its_series_alerts_as_they_were() -> None:
    state = State()
    src = add_source(state)
    run = Run([fs_rule()], state)
    observe(state, src, T0, {key(FS, **FS_LABELS): 0.95})
    run.at(T0)
    later = T0 + timedelta(minutes=10)  # 40 intervals without a report: stale
    assert run.at(later) == []
    assert [s.phase for s in run.states.values()] == [Phase.FIRING]


def test_value_updates_at_most_once_per_update_interval() -> None:
    clock = FakeClock(T0)
    state = State()
    src = add_source(state)
    run = Run([fs_rule()], state)
    seen = []
    for i in range(25):  # 6 minutes of rising values every 15 s
        observe(state, src, clock.now(), {key(FS, **FS_LABELS): 0.91 + i * 0.001})
        seen += run.at(clock.now())
        clock.advance(15)
    kinds = [k for k, _ in seen]
    assert kinds == [TransitionKind.FIRING, TransitionKind.UPDATED]
    assert seen[1][1] == pytest.approx(0.91 + 20 * 0.001)  # 300 s after firing


def test_partial_evaluation_touches_only_the_given_sources() -> None:
    state = State()
    a = add_source(state, "his-db-01")
    b = add_source(state, "pacs-01")
    run = Run([fs_rule()], state)
    observe(state, a, T0, {key(FS, **FS_LABELS): 0.95})
    observe(state, b, T0, {key(FS, **FS_LABELS): 0.95})
    assert run.at(T0, sources=[("agent", "his-db-01")]) == [(TransitionKind.FIRING, 0.95)]
    t1 = T0 + timedelta(seconds=15)
    observe(state, a, t1, {key(FS, **FS_LABELS): 0.95})
    observe(state, b, t1, {key(FS, **FS_LABELS): 0.95})
    assert run.at(t1, sources=[("agent", "pacs-01")]) == [(TransitionKind.FIRING, 0.95)]
    assert len(run.states) == 2
    t2 = T0 + timedelta(seconds=30)
    observe(state, a, t2, {key(FS, **FS_LABELS): 0.5})
    assert run.at(t2, sources=[("agent", "pacs-01")]) == []  # a is out of scope: still firing
    assert run.at(t2) == [(TransitionKind.RESOLVED, 0.5)]


def test_removed_rule_forgets_its_alerts_and_an_unknown_source_keeps_them() -> None:
    state = State()
    src = add_source(state)
    observe(state, src, T0, {key(FS, **FS_LABELS): 0.95})
    _, states = evaluate([fs_rule()], state, T0, {})
    assert evaluate([], state, T0, states) == ([], {})
    # a source the state does not know (yet: the collector restarted) cannot say it recovered
    transitions, kept = evaluate([fs_rule()], State(), T0, states)
    assert transitions == [] and kept == states


# ------------------------------------------------------------------------------------ other conditions


def test_heartbeat_fires_after_n_intervals_of_silence_and_resolves_on_a_report() -> None:
    state = State()
    src = add_source(state, interval=15)
    run = Run([rule({"type": "missing", "intervals": 3})], state)
    observe(state, src, T0, {})
    assert run.at(T0 + timedelta(seconds=45)) == []  # exactly 3 intervals: not yet
    assert run.at(T0 + timedelta(seconds=46)) == [(TransitionKind.FIRING, 46.0)]
    t = T0 + timedelta(seconds=60)
    observe(state, src, t, {})
    assert run.at(t) == [(TransitionKind.RESOLVED, 0.0)]


def test_heartbeat_counts_a_polling_error_as_missing() -> None:
    state = State()
    dev = add_source(state, "core-sw-01", kind=SourceKind.SNMP, interval=60)
    observe(state, dev, T0, {})
    state.mark_error(dev, "timeout")
    transitions, _ = evaluate([rule({"type": "missing"})], state, T0 + timedelta(seconds=5), {})
    assert [(t.kind, t.labels["device"]) for t in transitions] == [(TransitionKind.FIRING, "core-sw-01")]
    assert transitions[0].rule.is_reachability


def test_clock_skew_reads_the_source_and_compares_its_absolute_value() -> None:
    state = State()
    src = add_source(state)
    observe(state, src, T0, {})
    src.clock_skew_seconds = -75.0
    r = rule(
        {
            "type": "threshold",
            "metric": "wardwatch_agent_clock_skew_seconds",
            "transform": "abs",
            "op": ">",
            "value": 60,
        }
    )
    assert Run([r], state).at(T0) == [(TransitionKind.FIRING, 75.0)]
    src.clock_skew_seconds = 3.0
    assert Run([r], state).at(T0) == []


def test_age_and_until_transforms_compare_timestamps_with_now() -> None:
    state = State()
    src = add_source(state)
    now = T0.timestamp()
    observe(
        state,
        src,
        T0,
        {
            key("wardwatch_file_check_newest_timestamp_seconds", check="his-db"): now - 30 * 3600,
            key("wardwatch_http_tls_cert_expiry_timestamp_seconds", check="his", url="u"): now + 86400 * 10,
        },
    )
    backup = rule(
        {
            "type": "threshold",
            "metric": "wardwatch_file_check_newest_timestamp_seconds",
            "transform": "age",
            "op": ">",
            "value": 26 * 3600,
        },
        name="BackupTooOld",
    )
    cert = rule(
        {
            "type": "threshold",
            "metric": "wardwatch_http_tls_cert_expiry_timestamp_seconds",
            "transform": "until",
            "op": "<",
            "value": 14 * 86400,
        },
        name="CertExpiring",
    )
    transitions, _ = evaluate([backup, cert], state, T0, {})
    assert {(t.rule.name, t.value) for t in transitions} == {
        ("BackupTooOld", 30 * 3600.0),
        ("CertExpiring", 10 * 86400.0),
    }


def test_compare_fires_when_the_newest_backup_is_much_smaller_than_the_previous() -> None:
    r = rule(
        {
            "type": "compare",
            "metric": "wardwatch_file_check_newest_size_bytes",
            "other": "wardwatch_file_check_previous_size_bytes",
            "op": "<",
            "factor": 0.5,
        }
    )
    for newest, fires in [(400.0, True), (600.0, False)]:
        state = State()
        src = add_source(state)
        observe(
            state,
            src,
            T0,
            {
                key("wardwatch_file_check_newest_size_bytes", check="his-db"): newest,
                key("wardwatch_file_check_previous_size_bytes", check="his-db"): 1000.0,
            },
        )
        assert Run([r], state).at(T0) == ([(TransitionKind.FIRING, newest)] if fires else [])


@pytest.mark.parametrize(("oper", "admin", "fires"), [(2.0, 1.0, True), (1.0, 1.0, False), (2.0, 2.0, False)])
def test_all_condition_interface_oper_down_while_admin_up(oper: float, admin: float, fires: bool) -> None:
    state = State()
    dev = add_source(state, "core-sw-01", kind=SourceKind.SNMP, interval=60)
    observe(
        state,
        dev,
        T0,
        {
            key("wardwatch_snmp_if_oper_status", if_index="3", if_name="Gi0/3"): oper,
            key("wardwatch_snmp_if_admin_status", if_index="3", if_name="Gi0/3"): admin,
            key("wardwatch_snmp_if_oper_status", if_index="4", if_name="Gi0/4"): 1.0,
            key("wardwatch_snmp_if_admin_status", if_index="4", if_name="Gi0/4"): 1.0,
        },
    )
    r = rule(
        {
            "type": "all",
            "conditions": [
                {"type": "threshold", "metric": "wardwatch_snmp_if_oper_status", "op": "!=", "value": 1},
                {"type": "threshold", "metric": "wardwatch_snmp_if_admin_status", "op": "==", "value": 1},
            ],
        }
    )
    transitions, _ = evaluate([r], state, T0, {})
    assert [(t.labels["if_name"], t.labels["device"]) for t in transitions] == (
        [("Gi0/3", "core-sw-01")] if fires else []
    )


def test_change_detects_a_restart_and_resolves_after_hold() -> None:
    state = State()
    src = add_source(state)
    boot = key("wardwatch_boot_time_seconds")
    r = rule({"type": "change", "metric": boot[0], "direction": "increase", "min_delta": 60, "hold": "10m"})
    run = Run([r], state)
    b0 = T0.timestamp() - 86400
    for i, (value, expected) in enumerate(
        [
            (b0, []),
            (b0 + 1, []),  # boot time jitter: not a restart
            (T0.timestamp() + 25, [(TransitionKind.FIRING, T0.timestamp() + 25 - b0 - 1)]),
            (T0.timestamp() + 25, []),
        ]
    ):
        t = T0 + timedelta(seconds=15 * (i + 1))
        observe(state, src, t, {boot: value})
        assert run.at(t) == expected
    t = T0 + timedelta(seconds=45 + 601)  # hold is 600 s after the change
    observe(state, src, t, {boot: T0.timestamp() + 25})
    assert [k for k, _ in run.at(t)] == [TransitionKind.RESOLVED]


def test_counter_rate_counts_a_reset_as_a_restart_from_zero() -> None:
    assert counter_rate([(0, 100), (10, 200), (20, 300)], 60) == pytest.approx(10.0)
    # the counter reset between 10 and 20: 100 -> 200 (+100), then 200 -> 50 (restart: +50)
    assert counter_rate([(0, 100), (10, 200), (20, 50)], 60) == pytest.approx(7.5)
    assert counter_rate([(0, 100), (10, 200), (100, 300)], 50) is None  # one point in the window
    assert counter_rate([(0, 5)], 60) is None


def test_rate_rule_fires_on_interface_errors_and_does_not_go_negative_on_reset() -> None:
    state = State()
    dev = add_source(state, "core-sw-01", kind=SourceKind.SNMP, interval=60)
    err = key("wardwatch_snmp_if_in_errors_total", if_index="3")
    r = rule(
        {"type": "rate", "metric": err[0], "window": "5m", "op": ">", "value": 1.0},
    )
    run = Run([r], state)
    values = [0, 10, 20, 5, 15]  # reset after 20
    got = []
    for i, v in enumerate(values):
        t = T0 + timedelta(seconds=60 * i)
        observe(state, dev, t, {err: float(v)})
        got += run.at(t)
    assert got == []  # ~0.17/s
    for i, v in enumerate([200, 400], start=len(values)):
        t = T0 + timedelta(seconds=60 * i)
        observe(state, dev, t, {err: float(v)})
        got += run.at(t)
    ((kind, rate),) = got
    assert kind is TransitionKind.FIRING
    # window 300 s from t=360: points at 60..360: +10, +5(reset), +10, +185, +200 = 400 / 300 s
    assert rate == pytest.approx((10 + 5 + 10 + 185 + 200) / 300)


def test_hours_until_full_by_linear_fit() -> None:
    # +1 % per 10 minutes from 80 %: full in 20 * 10 min = 200 min
    pts = [(600.0 * i, 0.80 + 0.01 * i) for i in range(7)]
    assert hours_until(pts, 1.0, 3600, 5, 300) == pytest.approx((1.0 - 0.86) / 0.01 * 600 / 3600)
    assert hours_until([(600.0 * i, 0.8) for i in range(7)], 1.0, 3600, 5, 300) is None  # flat
    assert hours_until([(600.0 * i, 0.8 - 0.01 * i) for i in range(7)], 1.0, 3600, 5, 300) is None
    assert hours_until(pts[:3], 1.0, 3600, 5, 300) is None  # too few samples
    assert hours_until([(0, 0.9), (10, 1.0)], 1.0, 3600, 2, 5) == 0.0


def test_predict_rule_fires_when_the_filesystem_fills_within_hours() -> None:
    state = State(window_seconds=7200)
    src = add_source(state)
    r = rule({"type": "predict", "metric": FS, "limit": 1.0, "hours": 24, "window": "1h", "min_span": "10m"})
    run = Run([r], state)
    got = []
    for i in range(7):  # +2 % per 10 minutes: full in about 1.5 h
        t = T0 + timedelta(minutes=10 * i)
        observe(state, src, t, {key(FS, **FS_LABELS): 0.70 + 0.02 * i})
        got += run.at(t)
    fired = [v for k, v in got if k is TransitionKind.FIRING]
    assert len(fired) == 1 and TransitionKind.RESOLVED not in [k for k, _ in got]
    # the fit needs 5 samples: it fired at i=4 (value 0.78), 0.22 / (0.02 per 600 s)
    assert fired[0] == pytest.approx(0.22 / 0.02 * 600 / 3600)


@dataclass(frozen=True)
class Ev:
    """Shaped like ``collector.events.Event``."""

    kind: str
    source_name: str
    labels: dict[str, str]
    received_at: float
    source_kind: str = "snmp"


def link_rule(**over: Any) -> RuleConfig:
    cond = {
        "type": "event",
        "event": "linkDown",
        "clear_event": "linkUp",
        "key": ["if_index"],
        "timeout": "1h",
    }
    cond.update(over)
    return rule(cond, name="LinkDownTrap")


def test_event_opens_at_once_and_a_matching_clear_event_resolves() -> None:
    state = State()
    add_source(state, "core-sw-01", kind=SourceKind.SNMP, labels={"site": "main"})
    run = Run([link_rule()], state)
    t = T0.timestamp()
    down = Ev("linkDown", "core-sw-01", {"if_index": "3", "if_descr": "Gi0/3"}, t)
    assert run.at(T0, events=[down]) == [(TransitionKind.FIRING, 1.0)]
    (st,) = run.states.values()
    assert dict(st.labels) == {"site": "main", "device": "core-sw-01", "if_index": "3"}
    assert st.source == ("snmp", "core-sw-01")
    # another port's linkUp does not clear it; a repeat counts
    other_up = Ev("linkUp", "core-sw-01", {"if_index": "4"}, t + 1)
    again = Ev("linkDown", "core-sw-01", {"if_index": "3"}, t + 2)
    assert run.at(T0 + timedelta(seconds=2), events=[other_up, again]) == []
    assert [s.value for s in run.states.values()] == [2.0]
    up = Ev("linkUp", "core-sw-01", {"if_index": "3"}, t + 5)
    assert run.at(T0 + timedelta(seconds=5), events=[up]) == [(TransitionKind.RESOLVED, 2.0)]
    assert run.states == {}


def test_event_resolves_after_timeout_without_a_new_event() -> None:
    state = State()
    run = Run([link_rule()], state)
    t = T0.timestamp()
    run.at(T0, events=[Ev("linkDown", "", {"if_index": "1", "address": "10.0.0.9"}, t)])
    (st,) = run.states.values()
    assert st.labels["device"] == "10.0.0.9" and st.source is None  # an unknown device
    assert run.at(T0 + timedelta(minutes=59)) == []
    assert [k for k, _ in run.at(T0 + timedelta(minutes=60))] == [TransitionKind.RESOLVED]


def test_event_match_filters_on_event_labels() -> None:
    state = State()
    run = Run([link_rule(match={"if_descr": "Gi.*"})], state)
    t = T0.timestamp()
    assert run.at(T0, events=[Ev("linkDown", "sw", {"if_index": "1", "if_descr": "Vlan1"}, t)]) == []
    assert run.at(T0, events=[Ev("linkDown", "sw", {"if_index": "2", "if_descr": "Gi0/2"}, t)]) == [
        (TransitionKind.FIRING, 1.0)
    ]


# ---- rates of SNMP counters as the poller records them: widths and link speed from the profile ----------

IF_COLUMNS = {  # interfaces profile columns → what the scripted switch's port 3 answers (attribute or constant)
    "1.3.6.1.2.1.31.1.1.1.1": "GE1/0/3",  # ifName
    "1.3.6.1.2.1.31.1.1.1.18": "to ward 3",  # ifAlias
    "1.3.6.1.2.1.2.2.1.2": "GigabitEthernet1/0/3",  # ifDescr
    "1.3.6.1.2.1.2.2.1.7": 1,  # ifAdminStatus up
    "1.3.6.1.2.1.2.2.1.8": 1,  # ifOperStatus up
    "1.3.6.1.2.1.31.1.1.1.15": 1000,  # ifHighSpeed: 1 Gbit/s
    "1.3.6.1.2.1.31.1.1.1.6": "in_octets",  # ifHCInOctets (64-bit)
    "1.3.6.1.2.1.2.2.1.14": "in_errors",  # ifInErrors (32-bit)
}


class ScriptedSwitch:
    """One port of a switch as the real poller reads it (``interfaces`` profile): the answers are this
    object's attributes at the time of the poll."""

    def __init__(self) -> None:
        self.uptime_seconds = 86_400.0
        self.in_octets = 10**12
        self.in_errors = 0

    async def get(self, target: Any, oids: Any) -> dict[str, int | str]:
        return {"1.3.6.1.2.1.1.3.0": int(self.uptime_seconds * 100)}  # sysUpTime, TimeTicks

    async def walk(self, target: Any, columns: Any) -> dict[str, dict[str, int | str]]:
        out: dict[str, dict[str, int | str]] = {}
        for oid in columns:
            value = IF_COLUMNS.get(oid)
            if value is not None:
                out[oid] = {"3": getattr(self, value) if value in ("in_octets", "in_errors") else value}
        return out


def _default_rule(name: str) -> RuleConfig:
    from pathlib import Path

    from alerting.rule_config import load_rules_dir

    (found,) = [r for r in load_rules_dir(Path("deploy/rules")).rules if r.name == name]
    return found


def _rate_probe(metric: str) -> RuleConfig:
    """Fires for any rate at all, so its state shows the rate the rules see at each evaluation."""
    return rule(
        {"type": "rate", "metric": metric, "window": "5m", "op": ">=", "value": 0}, name=f"Probe_{metric}"
    )


async def _poll_and_evaluate(
    switch: ScriptedSwitch, steps: list[dict[str, float]], *extra: RuleConfig
) -> tuple[list[tuple[str, TransitionKind, float | None]], dict[str, list[float]]]:
    """Poll ``switch`` once a minute through the real poller, applying each step's changes first, and evaluate
    InterfaceInErrors (deploy/rules/network.yaml) and rate probes after every poll. Returns the transitions
    of the real rules and, per probed metric, the rate seen at each evaluation."""
    from collector.snmp.inventory import parse_inventory
    from collector.snmp.poller import Poller
    from collector.snmp.profiles import load_profiles
    from collector.snmp.settings import SnmpSettings

    clock = FakeClock(T0)
    state = State()
    device = {"name": "core-sw-01", "address": "192.0.2.1", "community": "c", "profiles": ["interfaces"]}
    poller = Poller(
        client=switch,  # type: ignore[arg-type]
        state=state,
        clock=clock,
        inventory=parse_inventory({"devices": [device]}, "t"),
        profiles=load_profiles(),
        settings=SnmpSettings(),
    )
    probed = ["wardwatch_snmp_if_in_errors_total", "wardwatch_snmp_if_in_octets_total"]
    real = [_default_rule("InterfaceInErrors"), *extra]
    rules = [*real, *(_rate_probe(m) for m in probed)]
    states: dict[str, AlertState] = {}
    transitions: list[tuple[str, TransitionKind, float | None]] = []
    seen: dict[str, list[float]] = {m: [] for m in probed}
    for step in steps:
        for attr, value in step.items():
            setattr(switch, attr, value)
        await poller.poll("core-sw-01")
        assert poller.status["core-sw-01"].up
        out, states = evaluate(rules, state, clock.now(), states)
        transitions += [(t.rule.name, t.kind, t.value) for t in out if t.rule in real]
        for st in states.values():
            if st.rule.startswith("Probe_") and st.value is not None:
                seen[st.rule.removeprefix("Probe_")].append(st.value)
        clock.advance(60)
        switch.uptime_seconds += 60
    return transitions, seen


def _counting(start: float, per_minute: float, n: int, attr: str = "in_errors") -> list[dict[str, float]]:
    return [{attr: start + per_minute * i} for i in range(n)]


async def test_interface_errors_rate_counts_a_32_bit_wrap_as_a_wrap() -> None:
    # 180 errors a minute (3/s) on a counter 600 below 2^32: it wraps at the third poll
    steps = _counting(2**32 - 600, 180, 12)
    for s in steps:
        s["in_errors"] %= 2**32
    transitions, seen = await _poll_and_evaluate(ScriptedSwitch(), steps)
    assert seen["wardwatch_snmp_if_in_errors_total"] == [pytest.approx(3.0)] * 11  # the wrap too
    assert transitions == [("InterfaceInErrors", TransitionKind.FIRING, pytest.approx(3.0))]


async def test_interface_errors_rate_leaves_out_a_device_restart() -> None:
    # a quiet port (6 errors a minute); the agent restarts and its counters come back on another base
    steps = _counting(50_000, 6, 5)
    steps.append({"uptime_seconds": 30.0, "in_errors": 40_000})
    steps += _counting(40_006, 6, 8)
    transitions, seen = await _poll_and_evaluate(ScriptedSwitch(), steps)
    assert transitions == []  # counted as a reset, the restart was 40,000 errors in a minute: a page
    assert max(seen["wardwatch_snmp_if_in_errors_total"]) == pytest.approx(0.1)


async def test_interface_errors_rate_skips_a_transient_drop_that_recovers() -> None:
    # 123,456 errors so far, 6 a minute; one poll answers 0, the next is back where the counter is
    steps = _counting(123_456, 6, 5)
    steps.append({"in_errors": 0})
    steps += _counting(123_456 + 6 * 6, 6, 8)
    transitions, seen = await _poll_and_evaluate(ScriptedSwitch(), steps)
    assert transitions == []  # as a reset, the recovery was 123,492 errors in a minute: 411/s for 5 minutes
    # while the 0 is the newest reading it is a reset (a little low, never high); once the next reading is
    # back above the one before it, the 0 is a bad reading and left out, also after the window has moved past
    # the reading before it
    rates = seen["wardwatch_snmp_if_in_errors_total"]
    assert rates == [pytest.approx(0.1)] * 4 + [pytest.approx(0.08)] + [pytest.approx(0.1)] * 8


async def test_an_octet_rate_above_what_the_link_carries_is_not_reported() -> None:
    # 1 Gbit/s port moving 1 MB/s; two polls answer 0, then the counter is back: counted from zero, that is
    # 10^12 bytes in a minute (133 Gbit/s), which the link cannot carry
    steps = _counting(10**12, 60 * 10**6, 5, "in_octets")
    steps += [{"in_octets": 0}, {"in_octets": 0}]
    steps += _counting(10**12 + 7 * 60 * 10**6, 60 * 10**6, 6, "in_octets")
    saturated = rule(
        {
            "type": "rate",
            "metric": "wardwatch_snmp_if_in_octets_total",
            "window": "5m",
            "op": ">",
            "value": 1.25e8,
        },
        name="LinkAboveLineRate",
    )
    transitions, seen = await _poll_and_evaluate(ScriptedSwitch(), steps, saturated)
    assert transitions == []
    assert max(seen["wardwatch_snmp_if_in_octets_total"]) <= 1.25e8
