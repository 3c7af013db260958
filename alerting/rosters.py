"""Who is on duty: pure functions of (roster, time).

A rotation staffs one daily shift (e.g. day 08:00-20:00). Its members take turns of ``turn`` days; turn ``k``
covers the days ``start + k*turn ... start + (k+1)*turn - 1`` and belongs to ``members[k % len(members)]``. Turns
count calendar days, so a holiday pattern does not shift the ordinary rotation. A shift belongs to the day it starts
on, and a rotation staffs only the kinds of day (workday, restday, holiday) it lists. Swaps (换班) then hand parts of
a person's shifts to someone else, and overrides replace (or add to) a team's layer for a while.

All instants are compared in UTC; wall-clock times are turned into instants in the roster's timezone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alerting.roster_calendar import DutyCalendar
from alerting.roster_config import (
    POSITION_LABELS,
    LayerName,
    Person,
    RosterConfig,
    Rotation,
    Shift,
    SmsContact,
    Team,
    load_roster_config,
)

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Roster:
    config: RosterConfig
    tz: ZoneInfo
    calendar: DutyCalendar
    people: Mapping[str, Person]
    rotations: Mapping[str, Rotation]
    teams: Mapping[str, Team]
    source: str | None = None

    @classmethod
    def from_config(cls, cfg: RosterConfig, source: str | None = None) -> Roster:
        return cls(
            config=cfg,
            tz=ZoneInfo(cfg.timezone),
            calendar=DutyCalendar(cfg.calendar),
            people={p.id: p for p in cfg.people},
            rotations={r.id: r for r in cfg.rotations},
            teams={t.id: t for t in cfg.teams},
            source=source,
        )


def load_roster(path: Path) -> Roster:
    """Load and validate a roster file (or the roster in a folder). Raises ``ConfigError``."""
    return Roster.from_config(load_roster_config(path), source=str(path))


@dataclass(frozen=True, order=True)
class Duty:
    """One stretch of duty: ``person`` is on duty from ``start`` (inclusive) to ``end`` (exclusive), in UTC."""

    start: datetime
    end: datetime
    person: str
    rotation: str | None
    """The rotation the shift comes from; None for an override."""
    via: str = "rotation"
    """``rotation``, ``swap`` (taken over from someone) or ``override``."""


@dataclass(frozen=True)
class Gap:
    team: str
    layer: LayerName
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass(frozen=True)
class Overlap:
    person: str
    first: Duty
    second: Duty
    start: datetime
    end: datetime


@dataclass(frozen=True)
class DutyBoard:
    """Everyone on duty at one instant."""

    at: datetime
    layers: Mapping[tuple[str, LayerName], tuple[Person, ...]]
    positions: Mapping[str, tuple[Person, ...]]


# --- shift boundary maths ----------------------------------------------------------------------------------------


def _instant(roster: Roster, day: date, t: time) -> datetime:
    return datetime.combine(day, t, tzinfo=roster.tz).astimezone(UTC)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return at.astimezone(UTC)


def local_instant(roster: Roster, when: datetime) -> datetime:
    """A datetime from the YAML (naive = roster wall clock) as a UTC instant."""
    return when.replace(tzinfo=roster.tz).astimezone(UTC) if when.tzinfo is None else when.astimezone(UTC)


def shift_bounds(roster: Roster, shift: Shift, day: date) -> tuple[datetime, datetime]:
    """The (start, end) instants of ``shift`` on ``day``; it ends on the next day if ``end <= start``."""
    end_day = day + timedelta(days=1) if shift.end <= shift.start else day
    return _instant(roster, day, shift.start), _instant(roster, end_day, shift.end)


def turn_index(rotation: Rotation, day: date) -> int:
    return (day - rotation.start).days // rotation.turn_days


def turn_member(rotation: Rotation, day: date) -> str:
    return rotation.members[turn_index(rotation, day) % len(rotation.members)]


def _turn_day(roster: Roster, rotation: Rotation, at: datetime) -> date:
    shift = roster.config.shifts[rotation.shift]
    at = _utc(at)
    day = at.astimezone(roster.tz).date()
    if at < _instant(roster, day, shift.start):
        day -= timedelta(days=1)
    return day


def turn_start(roster: Roster, rotation: Rotation, at: datetime) -> datetime:
    """The handoff that began the turn running at ``at`` (like GoAlert's ``Rotation.StartTime``)."""
    k = turn_index(rotation, _turn_day(roster, rotation, at))
    first = rotation.start + timedelta(days=k * rotation.turn_days)
    return _instant(roster, first, roster.config.shifts[rotation.shift].start)


def turn_end(roster: Roster, rotation: Rotation, at: datetime) -> datetime:
    """The next handoff after ``at`` (like GoAlert's ``Rotation.EndTime``)."""
    k = turn_index(rotation, _turn_day(roster, rotation, at)) + 1
    first = rotation.start + timedelta(days=k * rotation.turn_days)
    return _instant(roster, first, roster.config.shifts[rotation.shift].start)


def _staffs(roster: Roster, rotation: Rotation, day: date) -> bool:
    if day < rotation.start or (rotation.until is not None and day > rotation.until):
        return False
    return roster.calendar.kind(day) in rotation.days


def _days(roster: Roster, start: datetime, end: datetime) -> Iterable[date]:
    day = start.astimezone(roster.tz).date() - timedelta(days=1)
    last = end.astimezone(roster.tz).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def rotation_duties(roster: Roster, rotation_id: str, start: datetime, end: datetime) -> list[Duty]:
    """The rotation's duties overlapping [start, end), swaps applied."""
    start, end = _utc(start), _utc(end)
    rotation = roster.rotations[rotation_id]
    shift = roster.config.shifts[rotation.shift]
    out = []
    for day in _days(roster, start, end):
        if not _staffs(roster, rotation, day):
            continue
        s, e = shift_bounds(roster, shift, day)
        if s < end and e > start:
            out.append(Duty(s, e, turn_member(rotation, day), rotation_id))
    return [
        piece for d in out for piece in _apply_swaps(roster, d) if piece.start < end and piece.end > start
    ]


def _apply_swaps(roster: Roster, duty: Duty) -> list[Duty]:
    pieces = [duty]
    for swap in roster.config.swaps:
        if swap.rotation is not None and swap.rotation != duty.rotation:
            continue
        ws, we = local_instant(roster, swap.start), local_instant(roster, swap.end)
        nxt = []
        for p in pieces:
            if p.person != swap.for_ or p.via != "rotation" or ws >= p.end or we <= p.start:
                nxt.append(p)
                continue
            if p.start < ws:
                nxt.append(Duty(p.start, ws, p.person, p.rotation, p.via))
            nxt.append(Duty(max(p.start, ws), min(p.end, we), swap.who, p.rotation, "swap"))
            if we < p.end:
                nxt.append(Duty(we, p.end, p.person, p.rotation, p.via))
        pieces = nxt
    return pieces


def layer_duties(roster: Roster, team: str, layer: LayerName, start: datetime, end: datetime) -> list[Duty]:
    """Every duty on a team's layer overlapping [start, end): its rotations, swaps and overrides."""
    start, end = _utc(start), _utc(end)
    duties = [
        d
        for rid in roster.teams[team].layers[layer].rotations
        for d in rotation_duties(roster, rid, start, end)
    ]
    for o in roster.config.overrides:
        if o.team != team or o.layer != layer:
            continue
        ws, we = local_instant(roster, o.start), local_instant(roster, o.end)
        if ws >= end or we <= start:
            continue
        if o.mode == "replace":
            duties = [piece for d in duties for piece in _cut(d, ws, we)]
        duties.append(Duty(ws, we, o.who, None, "override"))
    return sorted(duties)


def _cut(d: Duty, ws: datetime, we: datetime) -> list[Duty]:
    if ws >= d.end or we <= d.start:
        return [d]
    out = []
    if d.start < ws:
        out.append(Duty(d.start, ws, d.person, d.rotation, d.via))
    if we < d.end:
        out.append(Duty(we, d.end, d.person, d.rotation, d.via))
    return out


def _people(roster: Roster, ids: Iterable[str]) -> list[Person]:
    seen: dict[str, Person] = {}
    for i in ids:
        seen.setdefault(i, roster.people[i])
    return list(seen.values())


def _at(duties: Iterable[Duty], at: datetime) -> list[str]:
    return [d.person for d in duties if d.start <= at < d.end]


# --- queries ------------------------------------------------------------------------------------------------------


def on_duty(roster: Roster, team: str, layer: LayerName, at: datetime) -> list[Person]:
    """The people on duty on ``team``'s ``layer`` at ``at`` (empty if none, or if the team has no such layer)."""
    at = _utc(at)
    if layer not in roster.teams[team].layers:
        return []
    return _people(roster, _at(layer_duties(roster, team, layer, at, at + _TICK), at))


def position_holders(roster: Roster, position: str, at: datetime) -> list[Person]:
    """Who fills a duty position at ``at``; its shared duty phone, if any, comes last as its own recipient."""
    at = _utc(at)
    pos = roster.config.positions.get(position)  # type: ignore[call-overload]
    if pos is None:
        return []
    ids = list(pos.people)
    for rid in pos.rotations:
        ids += _at(rotation_duties(roster, rid, at, at + _TICK), at)
    for ref in pos.layers:
        ids += [p.id for p in on_duty(roster, ref.team, ref.layer, at)]
    holders = _people(roster, ids)
    if pos.duty_phone:
        name = f"{pos.name or POSITION_LABELS[position]} · 值班电话"
        phone = SmsContact(kind="sms", phone=pos.duty_phone)
        holders.append(Person(id=f"duty-phone.{position}", name=name, contacts=[phone], duty_phone=True))
    return holders


def who_is_on_duty(roster: Roster, at: datetime) -> DutyBoard:
    at = _utc(at)
    layers = {
        (t.id, name): tuple(on_duty(roster, t.id, name, at)) for t in roster.config.teams for name in t.layers
    }
    positions = {name: tuple(position_holders(roster, name, at)) for name in roster.config.positions}
    return DutyBoard(at=at, layers=layers, positions=positions)


def find_gaps(roster: Roster, start: datetime, end: datetime) -> list[Gap]:
    """Every stretch of [start, end) with nobody on duty on a required team layer."""
    start, end = _utc(start), _utc(end)
    gaps = []
    for team in roster.config.teams:
        for name, layer in team.layers.items():
            if not layer.required:
                continue
            cursor = start
            for d in layer_duties(roster, team.id, name, start, end):
                if d.start > cursor:
                    gaps.append(Gap(team.id, name, cursor, min(d.start, end)))
                cursor = max(cursor, d.end)
            if cursor < end:
                gaps.append(Gap(team.id, name, cursor, end))
    return gaps


def find_overlaps(roster: Roster, start: datetime, end: datetime) -> list[Overlap]:
    """Every pair of different duties one person holds at the same time within [start, end)."""
    start, end = _utc(start), _utc(end)
    duties: set[Duty] = set()
    in_layers: set[str] = set()
    for team in roster.config.teams:
        for name, layer in team.layers.items():
            in_layers.update(layer.rotations)
            duties.update(layer_duties(roster, team.id, name, start, end))
    for rid in roster.rotations:
        if rid not in in_layers:
            duties.update(rotation_duties(roster, rid, start, end))
    by_person: dict[str, list[Duty]] = {}
    for d in sorted(duties):
        by_person.setdefault(d.person, []).append(d)
    out = []
    for person, mine in by_person.items():
        for i, a in enumerate(mine):
            for b in mine[i + 1 :]:
                if b.start >= a.end:
                    break
                if a.rotation is not None and a.rotation == b.rotation:
                    continue  # the same shift, seen through two layers
                s, e = max(a.start, b.start, start), min(a.end, b.end, end)
                if s < e:
                    out.append(Overlap(person, a, b, s, e))
    return out


def find_idle_swaps(roster: Roster, start: datetime, end: datetime) -> list[int]:
    """Indexes of swaps overlapping [start, end) that change nothing: ``for`` has no shift in their window."""
    start, end = _utc(start), _utc(end)
    idle = []
    for i, swap in enumerate(roster.config.swaps):
        ws, we = local_instant(roster, swap.start), local_instant(roster, swap.end)
        if ws >= end or we <= start:
            continue
        rotations = [swap.rotation] if swap.rotation else list(roster.rotations)
        taken = any(
            d.via == "swap" and d.person == swap.who and d.start >= ws and d.end <= we
            for rid in rotations
            for d in rotation_duties(roster, rid, ws, we)
        )
        if not taken:
            idle.append(i)
    return idle
