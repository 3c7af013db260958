"""The escalation engine against the example roster and policies, with time moved by a FakeClock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerting.clock import FakeClock
from alerting.escalation import (
    Action,
    Escalate,
    IncidentView,
    NotifyStakeholders,
    Page,
    RoundDone,
    apply,
    plan,
    route,
)
from alerting.escalation_config import EscalationConfig, load_escalation_config
from alerting.rosters import Roster, load_roster

REPO = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=SH)  # Wednesday: li-na on the day shift, sun-li systems backup


@pytest.fixture(scope="module")
def roster() -> Roster:
    return load_roster(REPO / "rosters")


@pytest.fixture(scope="module")
def policies(roster: Roster) -> EscalationConfig:
    return load_escalation_config(REPO / "rosters" / "escalation.yaml", roster.config)


def incident(severity: str = "P2", category: str = "system_failure", **kw: object) -> IncidentView:
    return IncidentView(id="INC-2026-000001", severity=severity, category=category, opened_at=T0, **kw)  # type: ignore[arg-type]


def run(
    inc: IncidentView,
    policies: EscalationConfig,
    roster: Roster,
    until: timedelta,
    *,
    step: int = 5,
    events: Sequence[tuple[timedelta, str]] = (),
) -> tuple[IncidentView, list[tuple[timedelta, Action]]]:
    """The runner loop in miniature: every ``step`` seconds plan, record, apply. ``events`` ack or resolve."""
    clock = FakeClock(T0)
    log: list[tuple[timedelta, Action]] = []
    while (elapsed := clock.now() - T0) <= until:
        for when, what in events:
            if elapsed == when:
                inc = IncidentView(**{**inc.__dict__, f"{what}_at": clock.now()})
        actions = plan([inc], policies, roster, clock.now())
        log += [(elapsed, a) for a in actions]
        inc = apply(inc, actions)
        clock.advance(step)
    return inc, log


def pages(log: list[tuple[timedelta, Action]]) -> list[tuple[int, int, int, str]]:
    """(minute, level, round, person) of every page."""
    return [
        (int(t.total_seconds() // 60), a.level, a.round, a.person.id) for t, a in log if isinstance(a, Page)
    ]


def escalations(log: list[tuple[timedelta, Action]]) -> list[tuple[timedelta, int]]:
    return [(t, a.to_level) for t, a in log if isinstance(a, Escalate)]


def test_unacknowledged_p2_climbs_level_1_2_3_at_the_configured_delays(roster, policies) -> None:
    inc, log = run(incident(), policies, roster, timedelta(minutes=40))
    m = timedelta(minutes=1)
    assert escalations(log) == [(0 * m, 1), (15 * m, 2), (30 * m, 3)]
    assert pages(log) == [
        (0, 1, 0, "li-na"),
        (0, 1, 0, "duty-phone.first-line"),  # level 1: first-line and its duty phone
        (5, 1, 1, "li-na"),
        (5, 1, 1, "duty-phone.first-line"),  # repeat 1 after 5 min
        (10, 1, 2, "li-na"),
        (10, 1, 2, "duty-phone.first-line"),  # repeat 2 after 10 min (repeat: 2)
        (15, 2, 0, "sun-li"),  # level 2: systems backup
        (30, 3, 0, "zhou-min"),  # level 3: the IT head
    ]
    assert inc.escalation.level == 3
    assert [
        a for _, a in log if isinstance(a, NotifyStakeholders)
    ] == []  # P2 has no stakeholder updates here


def test_level_4_waits_for_its_delay_since_the_previous_level(roster, policies) -> None:
    _, log = run(incident(), policies, roster, timedelta(minutes=61))
    assert escalations(log)[-1] == (timedelta(minutes=60), 4)  # 30 min after level 3 started
    assert {p for m, lvl, _, p in pages(log) if lvl == 4} == {"huang-jian", "zhou-min", "he-ping"}


def test_acknowledging_stops_the_escalation(roster, policies) -> None:
    inc, log = run(
        incident(), policies, roster, timedelta(minutes=60), events=[(timedelta(minutes=12), "acknowledged")]
    )
    assert escalations(log) == [(timedelta(0), 1)]
    assert max(m for m, *_ in pages(log)) == 10
    assert inc.escalation.level == 1


def test_resolving_stops_the_escalation(roster, policies) -> None:
    inc, log = run(
        incident(), policies, roster, timedelta(minutes=60), events=[(timedelta(minutes=20), "resolved")]
    )
    assert escalations(log) == [(timedelta(0), 1), (timedelta(minutes=15), 2)]
    assert max(m for m, *_ in pages(log)) == 15
    assert inc.escalation.level == 2


def test_p1_pages_level_1_and_the_it_head_together(roster, policies) -> None:
    actions = plan([incident("P1")], policies, roster, T0)
    assert [type(a).__name__ for a in actions] == [
        "Escalate",
        "Page",
        "Page",
        "Page",
        "RoundDone",
        "NotifyStakeholders",
    ]
    assert [(a.level, a.person.id) for a in actions if isinstance(a, Page)] == [
        (1, "li-na"),
        (1, "duty-phone.first-line"),
        (1, "zhou-min"),
    ]
    [update] = [a for a in actions if isinstance(a, NotifyStakeholders)]
    assert update.event == "opened"
    assert [p.id for p in update.people] == [
        "huang-jian",
        "zhou-min",
        "he-ping",
        "feng-lei",
        "duty-phone.hospital-duty-officer",
    ]


def test_p1_progress_updates_go_out_once_each(roster, policies) -> None:
    _, log = run(
        incident("P1"),
        policies,
        roster,
        timedelta(minutes=40),
        events=[(timedelta(minutes=32), "acknowledged"), (timedelta(minutes=38), "resolved")],
    )
    updates = [
        (int(t.total_seconds() // 60), a.event, a.level) for t, a in log if isinstance(a, NotifyStakeholders)
    ]
    assert updates == [
        (0, "opened", 1),
        (15, "escalated", 2),
        (30, "escalated", 3),
        (32, "acknowledged", 3),
        (38, "resolved", 3),
    ]


def test_a_restart_between_level_1_and_2_neither_skips_level_2_nor_repeats_level_1(roster, policies) -> None:
    persisted, before = run(incident(), policies, roster, timedelta(minutes=12))
    # the process dies here; a new one starts with only what the store persisted
    state_only = IncidentView(**persisted.__dict__)
    clock = FakeClock(T0 + timedelta(minutes=12, seconds=30))
    after: list[tuple[timedelta, Action]] = []
    inc = state_only
    while clock.now() <= T0 + timedelta(minutes=20):
        actions = plan([inc], policies, roster, clock.now())
        after += [(clock.now() - T0, a) for a in actions]
        inc = apply(inc, actions)
        clock.advance(5)
    assert [(lvl, rnd) for _, lvl, rnd, _ in pages(after)] == [(2, 0)]
    keys = [a.idempotency_key for _, a in before + after if isinstance(a, Page)]
    assert len(keys) == len(set(keys))


def test_a_plan_lost_in_a_crash_is_planned_again_with_the_same_keys(roster, policies) -> None:
    at_level_1, _ = run(incident(), policies, roster, timedelta(minutes=12))
    lost = plan(
        [at_level_1], policies, roster, T0 + timedelta(minutes=15)
    )  # sent to the outbox, then SIGKILL
    again = plan([at_level_1], policies, roster, T0 + timedelta(minutes=15, seconds=20))
    key = lambda acts: [a.idempotency_key for a in acts if isinstance(a, Page)]  # noqa: E731
    assert key(lost) == key(again) == ["INC-2026-000001/L2/R0/sun-li"]


def test_after_a_long_outage_levels_are_taken_one_at_a_time_each_with_its_window(roster, policies) -> None:
    at_level_1, _ = run(incident(), policies, roster, timedelta(minutes=1))
    back = T0 + timedelta(minutes=50)  # levels 2 (15 min) and 3 (30 min) are both overdue
    first = plan([at_level_1], policies, roster, back)
    assert [a.to_level for a in first if isinstance(a, Escalate)] == [2]
    inc = apply(at_level_1, first)
    assert plan([inc], policies, roster, back) == []
    assert (
        plan([inc], policies, roster, back + timedelta(minutes=14, seconds=59)) == []
    )  # level 2 keeps 15 min
    third = plan([inc], policies, roster, back + timedelta(minutes=15))
    assert [a.to_level for a in third if isinstance(a, Escalate)] == [3]


def test_after_an_outage_only_the_latest_due_repeat_is_paged(roster, policies) -> None:
    at_level_1, _ = run(incident(), policies, roster, timedelta(0))
    actions = plan([at_level_1], policies, roster, T0 + timedelta(minutes=11))
    assert [(a.level, a.round) for a in actions if isinstance(a, RoundDone)] == [(1, 2)]
    assert plan([apply(at_level_1, actions)], policies, roster, T0 + timedelta(minutes=12)) == []


@pytest.mark.parametrize(
    ("category", "labels", "policy"),
    [
        ("network_outage", {}, "network"),
        ("data_loss", {}, "database"),
        ("security_event", {}, "security"),
        ("system_failure", {"role": "database"}, "database-hosts"),
        ("system_failure", {"role": "web"}, "default"),
        ("other", {}, "default"),
    ],
)
def test_routing_by_category_and_labels(policies, category: str, labels: dict[str, str], policy: str) -> None:
    chosen = route(incident(category=category, labels=labels), policies)
    assert chosen is not None and chosen.id == policy


def test_network_incidents_page_the_network_team(roster, policies) -> None:
    actions = plan([incident(category="network_outage")], policies, roster, T0)
    assert [a.person.id for a in actions if isinstance(a, Page)] == [
        "xu-jing",
        "li-na",
        "duty-phone.first-line",
    ]


def test_the_policy_chosen_at_the_start_is_kept(roster, policies) -> None:
    inc = apply(
        incident(category="network_outage"), plan([incident(category="network_outage")], policies, roster, T0)
    )
    relabelled = IncidentView(**{**inc.__dict__, "category": "other"})
    actions = plan([relabelled], policies, roster, T0 + timedelta(minutes=15))
    assert [a.person.id for a in actions if isinstance(a, Page)] == ["wu-hao"]  # network backup, not systems


def test_nothing_before_the_incident_opens_and_naive_now_is_refused(roster, policies) -> None:
    assert plan([incident()], policies, roster, T0 - timedelta(seconds=1)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        plan([incident()], policies, roster, datetime(2026, 12, 2, 10, 0))


def test_a_level_with_nobody_on_duty_is_recorded_as_an_empty_round(roster) -> None:
    only_office_hours = EscalationConfig.model_validate(
        {
            "policies": [
                {
                    "id": "dba",
                    "levels": [{"delay": "0m", "targets": [{"team": "database", "layer": "specialist"}]}],
                }
            ]
        }
    )
    night = T0.replace(hour=22)
    inc = IncidentView(id="INC-2026-000002", severity="P3", category="data_loss", opened_at=night)
    actions = plan([inc], only_office_hours, roster, night)
    assert actions == [
        Escalate("INC-2026-000002", 1, "dba", night),
        RoundDone("INC-2026-000002", 1, 0, ()),
    ]
    assert plan([apply(inc, actions)], only_office_hours, roster, night + timedelta(minutes=1)) == []
