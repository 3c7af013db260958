"""The roster YAML: people, shifts, rotations, teams and their layers, duty positions, swaps, overrides,
holidays. Parse and validate only (``docs/rosters.md`` describes the file); on-duty maths is in ``rosters.py``.

Times in the file are wall-clock times in the roster's ``timezone`` (default Asia/Shanghai).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from alerting.yaml_lines import ConfigError, problem_at, validate_file

Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
LayerName = Literal["primary", "backup", "specialist"]
DayKind = Literal["workday", "restday", "holiday"]
PositionName = Literal["first-line", "specialist", "it-head", "hospital-duty-officer", "emergency-command"]
DAY_KINDS: tuple[DayKind, ...] = ("workday", "restday", "holiday")

POSITION_LABELS: dict[str, str] = {
    "first-line": "一线",
    "specialist": "二线",
    "it-head": "信息科主任",
    "hospital-duty-officer": "院总值班",
    "emergency-command": "应急指挥组",
}


def _phone(v: str) -> str:
    if not re.fullmatch(r"\+?[0-9][0-9 -]{5,19}", v):
        raise ValueError("a phone number is digits, optionally with a leading + (e.g. +8613800000000)")
    return v.replace(" ", "").replace("-", "")


def _email(v: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
        raise ValueError("not an email address")
    return v


def _http_url(v: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+\S*", v):
        raise ValueError("a webhook URL starts with http:// or https://")
    return v


def _clock_time(v: object) -> object:
    if isinstance(v, str):
        m = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", v.strip())
        if not m:
            raise ValueError("a time of day is HH:MM, e.g. '08:00'")
        return time(int(m.group(1)), int(m.group(2)))
    return v


def _turn(v: object) -> object:
    if isinstance(v, str) and not re.fullmatch(r"[1-9][0-9]*[dw]", v):
        raise ValueError("a turn length is a number of days or weeks, e.g. '1d', '7d', '1w', '2w'")
    return v


Phone = Annotated[str, AfterValidator(_phone)]
ClockTime = Annotated[time, BeforeValidator(_clock_time)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SmsContact(_Strict):
    kind: Literal["sms"]
    phone: Phone


class EmailContact(_Strict):
    kind: Literal["email"]
    address: Annotated[str, AfterValidator(_email)]


class WecomContact(_Strict):
    kind: Literal["wecom"]
    user_id: Annotated[str, Field(min_length=1)]


class DingtalkContact(_Strict):
    kind: Literal["dingtalk"]
    mobile: Phone


class WebhookContact(_Strict):
    kind: Literal["webhook"]
    url: Annotated[str, AfterValidator(_http_url)]


Contact = Annotated[
    SmsContact | EmailContact | WecomContact | DingtalkContact | WebhookContact, Field(discriminator="kind")
]


class Person(_Strict):
    id: Id
    name: Annotated[str, Field(min_length=1)]
    contacts: Annotated[list[Contact], Field(min_length=1)]
    """In the order to try them."""
    duty_phone: bool = False
    """True for the synthetic person standing for a position's shared duty phone (never in the YAML)."""


class Shift(_Strict):
    """A daily shift: ``start`` to ``end`` local time; an ``end`` at or before ``start`` is on the next day."""

    start: ClockTime
    end: ClockTime
    name: str | None = None


class Rotation(_Strict):
    id: Id
    name: str | None = None
    members: Annotated[list[Id], Field(min_length=1)]
    shift: Id
    """The named shift this rotation staffs; the handoff is at the shift's start."""
    start: date
    """The first day of the first member's turn."""
    turn: Annotated[str, BeforeValidator(_turn)] = "1d"
    """How long each member keeps the shift before the next member takes over: ``Nd`` or ``Nw``."""
    days: Annotated[list[DayKind], Field(min_length=1)] = list(DAY_KINDS)
    """The kinds of day this rotation staffs (a shift belongs to the day it starts on)."""
    until: date | None = None
    """The last day this rotation staffs, if it ends."""

    @property
    def turn_days(self) -> int:
        n = int(self.turn[:-1])
        return n * 7 if self.turn.endswith("w") else n

    @model_validator(mode="after")
    def _until_after_start(self) -> Rotation:
        if self.until is not None and self.until < self.start:
            raise ValueError("until is before start")
        return self


class Layer(_Strict):
    rotations: Annotated[list[Id], Field(min_length=1)]
    required: bool = True
    """A required layer must have someone on duty every minute (``roster check`` enforces it)."""


class Team(_Strict):
    id: Id
    name: str
    layers: Annotated[dict[LayerName, Layer], Field(min_length=1)]


class LayerRef(_Strict):
    team: Id
    layer: LayerName


class Position(_Strict):
    """A duty position that escalation can target, filled from fixed people, rotations or team layers."""

    name: str | None = None
    people: list[Id] = []
    rotations: list[Id] = []
    layers: list[LayerRef] = []
    duty_phone: Phone | None = None
    """A shared phone that goes with the position: paged whenever the position is."""

    @model_validator(mode="after")
    def _has_a_source(self) -> Position:
        if not (self.people or self.rotations or self.layers):
            raise ValueError("a position needs people, rotations or layers")
        return self


class _Window(_Strict):
    start: datetime
    end: datetime
    agreed_by: Id
    reason: str | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> _Window:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("give start and end both with a UTC offset or both without (roster time)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Swap(_Window):
    """换班: ``who`` takes ``for``'s shifts between ``start`` and ``end`` (optionally in one rotation only)."""

    who: Id
    for_: Id = Field(alias="for")
    rotation: Id | None = None


class Override(_Window):
    """``who`` holds a team's layer between ``start`` and ``end``, replacing (or added to) its rotations."""

    team: Id
    layer: LayerName
    who: Id
    mode: Literal["replace", "add"] = "replace"


class CalendarConfig(_Strict):
    country: Literal["CN"] | None = "CN"
    """Public holidays and make-up workdays from the ``holidays`` package; null for none."""
    holidays: list[date] = []
    """Extra days off: the hospital's own, or official ones the package does not know yet."""
    workdays: list[date] = []
    """Extra make-up workdays (调休上班), e.g. from the State Council's notice for next year."""


def _timezone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown timezone {v!r}") from err
    return v


class RosterConfig(_Strict):
    timezone: Annotated[str, AfterValidator(_timezone)] = "Asia/Shanghai"
    calendar: CalendarConfig = CalendarConfig()
    shifts: Annotated[dict[Id, Shift], Field(min_length=1)]
    people: Annotated[list[Person], Field(min_length=1)]
    rotations: list[Rotation] = []
    teams: list[Team] = []
    positions: dict[PositionName, Position] = {}
    swaps: list[Swap] = []
    overrides: list[Override] = []


def reference_problems(cfg: RosterConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Every broken cross-reference, as (location, message)."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    people = {p.id for p in cfg.people}
    rotations = {r.id for r in cfg.rotations}
    teams = {t.id: t for t in cfg.teams}

    for section, ids in (
        ("people", [p.id for p in cfg.people]),
        ("rotations", [r.id for r in cfg.rotations]),
        ("teams", [t.id for t in cfg.teams]),
    ):
        dupes = {i for i, n in Counter(ids).items() if n > 1}
        for i, ident in enumerate(ids):
            if ident in dupes:
                out.append(((section, i, "id"), f"duplicate id {ident!r}"))

    def person(loc: tuple[str | int, ...], ident: str) -> None:
        if ident not in people:
            out.append((loc, f"no person with id {ident!r}"))

    def rotation(loc: tuple[str | int, ...], ident: str) -> None:
        if ident not in rotations:
            out.append((loc, f"no rotation with id {ident!r}"))

    def layer(loc: tuple[str | int, ...], team: str, name: str) -> None:
        if team not in teams:
            out.append(((*loc, "team"), f"no team with id {team!r}"))
        elif name not in teams[team].layers:
            out.append(((*loc, "layer"), f"team {team!r} has no {name} layer"))

    for i, r in enumerate(cfg.rotations):
        for j, m in enumerate(r.members):
            person(("rotations", i, "members", j), m)
        if r.shift not in cfg.shifts:
            out.append((("rotations", i, "shift"), f"no shift named {r.shift!r}"))
    for i, t in enumerate(cfg.teams):
        for name, lay in t.layers.items():
            for j, rid in enumerate(lay.rotations):
                rotation(("teams", i, "layers", name, "rotations", j), rid)
    for name, pos in cfg.positions.items():
        for j, pid in enumerate(pos.people):
            person(("positions", name, "people", j), pid)
        for j, rid in enumerate(pos.rotations):
            rotation(("positions", name, "rotations", j), rid)
        for j, ref in enumerate(pos.layers):
            layer(("positions", name, "layers", j), ref.team, ref.layer)
    for i, s in enumerate(cfg.swaps):
        person(("swaps", i, "who"), s.who)
        person(("swaps", i, "for"), s.for_)
        person(("swaps", i, "agreed_by"), s.agreed_by)
        if s.rotation is not None:
            rotation(("swaps", i, "rotation"), s.rotation)
        if s.who == s.for_:
            out.append((("swaps", i, "who"), "a swap needs two different people"))
    for i, o in enumerate(cfg.overrides):
        person(("overrides", i, "who"), o.who)
        person(("overrides", i, "agreed_by"), o.agreed_by)
        layer(("overrides", i), o.team, o.layer)
    return out


def roster_file(path: Path) -> Path:
    """The roster file: ``path`` itself, or the one roster YAML in a folder (``escalation*.yaml`` excluded)."""
    if not path.is_dir():
        return path
    found = sorted(
        p for p in [*path.glob("*.yaml"), *path.glob("*.yml")] if not p.name.startswith("escalation")
    )
    if len(found) != 1:
        what = (
            "no roster file"
            if not found
            else f"{len(found)} roster files ({', '.join(p.name for p in found)})"
        )
        raise ConfigError([problem_at(str(path), None, {}, (), f"{what}; pass --roster FILE")])
    return found[0]


def load_roster_config(path: Path) -> RosterConfig:
    """Read and validate a roster file (or the roster in a folder); raise ``ConfigError`` with every problem."""
    file = roster_file(path)
    cfg, data, lines = validate_file(RosterConfig, file)
    problems = [
        problem_at(str(file), data, lines, loc, msg, exact=True) for loc, msg in reference_problems(cfg)
    ]
    if problems:
        raise ConfigError(problems)
    return cfg
