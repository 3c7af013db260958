"""iCalendar export of duties, per person and per team, for phones to subscribe to. Pure: bytes out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import icalendar

from alerting.rosters import Duty, Roster, layer_duties, rotation_duties


def _describe(roster: Roster, duty: Duty, where: str) -> str:
    rotation = roster.rotations.get(duty.rotation or "")
    shift = roster.config.shifts[rotation.shift] if rotation else None
    label = (rotation.name or rotation.id) if rotation else "override"
    if shift and shift.name:
        label = f"{label} · {shift.name}"
    if duty.via == "swap":
        label += " (换班)"
    return f"{roster.people[duty.person].name} — {where} — {label}"


def _calendar(roster: Roster, title: str, events: list[tuple[Duty, str]], now: datetime) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//wardwatch//roster//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", title)
    cal.add("x-wr-timezone", roster.config.timezone)
    for duty, where in _merge(sorted(set(events))):
        ev = icalendar.Event()
        ev.add("uid", f"{duty.person}.{duty.rotation or 'override'}.{duty.start:%Y%m%dT%H%M%SZ}@wardwatch")
        ev.add("dtstamp", now.astimezone(UTC))
        ev.add("dtstart", duty.start.astimezone(UTC))
        ev.add("dtend", duty.end.astimezone(UTC))
        ev.add("summary", _describe(roster, duty, where))
        cal.add_component(ev)
    return cal.to_ical()


def _merge(events: list[tuple[Duty, str]]) -> list[tuple[Duty, str]]:
    """Join back-to-back duties of one person in one rotation turn (a weekly 24 h rotation is one event)."""
    out: list[tuple[Duty, str]] = []
    for duty, where in events:
        for i, (prev, prev_where) in enumerate(out):
            same = (prev.person, prev.rotation, prev.via, prev_where) == (
                duty.person,
                duty.rotation,
                duty.via,
                where,
            )
            if same and prev.end == duty.start and duty.rotation is not None:
                out[i] = (replace(prev, end=duty.end), where)
                break
        else:
            out.append((duty, where))
    return out


def _all_duties(roster: Roster, start: datetime, end: datetime) -> list[tuple[Duty, str]]:
    out: list[tuple[Duty, str]] = []
    in_layers: set[str] = set()
    for team in roster.config.teams:
        for name, layer in team.layers.items():
            in_layers.update(layer.rotations)
            out += [(d, f"{team.name} {name}") for d in layer_duties(roster, team.id, name, start, end)]
    for name, pos in roster.config.positions.items():
        for rid in pos.rotations:
            if rid not in in_layers:
                out += [(d, pos.name or name) for d in rotation_duties(roster, rid, start, end)]
    return out


def person_ical(roster: Roster, person: str, *, start: datetime, end: datetime, now: datetime) -> bytes:
    """One event per duty of ``person`` overlapping [start, end)."""
    if person not in roster.people:
        raise KeyError(f"no person with id {person!r}")
    events = [(d, w) for d, w in _all_duties(roster, start, end) if d.person == person]
    return _calendar(roster, f"值班 · {roster.people[person].name}", events, now)


def team_ical(roster: Roster, team: str, *, start: datetime, end: datetime, now: datetime) -> bytes:
    """One event per duty on any layer of ``team`` overlapping [start, end)."""
    if team not in roster.teams:
        raise KeyError(f"no team with id {team!r}")
    t = roster.teams[team]
    events = [
        (d, f"{t.name} {name}") for name in t.layers for d in layer_duties(roster, team, name, start, end)
    ]
    return _calendar(roster, f"值班 · {t.name}", events, now)
