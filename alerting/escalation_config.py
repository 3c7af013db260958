"""The escalation policies YAML: routing of incidents to a policy, ordered levels with delays and targets,
repeats, P1 rules and stakeholder progress updates. Parse and validate only; the engine is ``escalation.py``."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from alerting.roster_config import Id, LayerName, PositionName, RosterConfig
from alerting.yaml_lines import ConfigError, problem_at, validate_file

Severity = Literal["P1", "P2", "P3", "P4"]
# The incident categories of the regulation's four emergency plans (same values as alerting.model.Category).
Category = Literal["system_failure", "network_outage", "data_loss", "security_event", "other"]
UpdateEvent = Literal["opened", "acknowledged", "escalated", "resolved"]

_UNITS = {"s": 1, "m": 60, "h": 3600}


def _duration(v: object) -> object:
    if isinstance(v, str):
        m = re.fullmatch(r"([0-9]+)([smh])", v.strip())
        if not m:
            raise ValueError("a duration is a number with s, m or h, e.g. '30s', '15m', '1h'")
        return int(m.group(1)) * _UNITS[m.group(2)]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("a duration is a number with s, m or h, e.g. '30s', '15m', '1h'")
    return v


Seconds = Annotated[int, BeforeValidator(_duration), Field(ge=0)]
"""A duration, written ``30s``, ``15m`` or ``1h``; held as seconds."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    """Who to page: a team's layer (``team`` + ``layer``), a ``person``, or a duty ``position``."""

    team: Id | None = None
    layer: LayerName | None = None
    person: Id | None = None
    position: PositionName | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        kinds = [self.team is not None, self.person is not None, self.position is not None]
        if sum(kinds) != 1:
            raise ValueError("a target is one of {team, layer}, {person} or {position}")
        if (self.team is None) != (self.layer is None):
            raise ValueError("a team target needs both team and layer")
        return self

    def __str__(self) -> str:
        if self.team:
            return f"{self.team}/{self.layer}"
        return f"person {self.person}" if self.person else f"position {self.position}"


class Level(_Strict):
    delay: Seconds
    """How long after ``since`` this level starts if the incident is still unacknowledged."""
    since: Literal["opened", "previous"] = "opened"
    targets: Annotated[list[Target], Field(min_length=1)]
    repeat: Annotated[int, Field(ge=0, le=20)] = 0
    """How many times to page this level again while it is the current level."""
    repeat_interval: Seconds = 600


class Match(_Strict):
    """Empty lists match everything; ``labels`` must all be equal."""

    categories: list[Category] = []
    severities: list[Severity] = []
    labels: dict[str, str] = {}


class Stakeholders(_Strict):
    """Progress updates (not pages) to leadership for incidents of these severities."""

    targets: Annotated[list[Target], Field(min_length=1)]
    severities: list[Severity] = ["P1"]
    events: list[UpdateEvent] = ["opened", "acknowledged", "escalated", "resolved"]


class Policy(_Strict):
    id: Id
    name: str | None = None
    match: Match = Match()
    levels: Annotated[list[Level], Field(min_length=1)]
    stakeholders: Stakeholders | None = None

    @model_validator(mode="after")
    def _delays_move_forward(self) -> Policy:
        last_opened = -1
        for i, level in enumerate(self.levels):
            if level.since == "previous" and i == 0:
                raise ValueError("the first level's delay is since the incident opened")
            if level.since == "previous" and level.delay <= 0:
                raise ValueError(f"level {i + 1}: a delay since the previous level must be positive")
            if level.since == "opened":
                if level.delay <= last_opened:
                    raise ValueError(f"level {i + 1}: delays since opened must increase from level to level")
                last_opened = level.delay
        return self


class EscalationConfig(_Strict):
    roster: str | None = None
    """The roster file these policies are written against, relative to this file (documentation and checks)."""
    p1_immediate: list[Target] = [Target(position="it-head")]
    """Paged together with level 1 of every P1 incident, as the regulation requires."""
    policies: Annotated[list[Policy], Field(min_length=1)]
    """Tried in order; the first whose ``match`` fits the incident is used."""


def reference_problems(
    cfg: EscalationConfig, roster: RosterConfig
) -> list[tuple[tuple[str | int, ...], str]]:
    out: list[tuple[tuple[str | int, ...], str]] = []
    people = {p.id for p in roster.people}
    teams = {t.id: t for t in roster.teams}

    def check(loc: tuple[str | int, ...], t: Target) -> None:
        if t.person is not None and t.person not in people:
            out.append(((*loc, "person"), f"no person with id {t.person!r} in the roster"))
        if t.position is not None and t.position not in roster.positions:
            out.append(((*loc, "position"), f"the roster does not fill position {t.position!r}"))
        if t.team is not None:
            if t.team not in teams:
                out.append(((*loc, "team"), f"no team with id {t.team!r} in the roster"))
            elif t.layer not in teams[t.team].layers:
                out.append(((*loc, "layer"), f"team {t.team!r} has no {t.layer} layer"))

    ids = [p.id for p in cfg.policies]
    for i, ident in enumerate(ids):
        if Counter(ids)[ident] > 1:
            out.append((("policies", i, "id"), f"duplicate id {ident!r}"))
    before = len(out)
    for j, t in enumerate(cfg.p1_immediate):
        check(("p1_immediate", j), t)
    if "p1_immediate" not in cfg.model_fields_set:
        out[before:] = [
            (loc, f"{msg} (p1_immediate defaults to [{{position: it-head}}])") for loc, msg in out[before:]
        ]
    for i, p in enumerate(cfg.policies):
        for k, level in enumerate(p.levels):
            for j, t in enumerate(level.targets):
                check(("policies", i, "levels", k, "targets", j), t)
        if p.stakeholders:
            for j, t in enumerate(p.stakeholders.targets):
                check(("policies", i, "stakeholders", "targets", j), t)
    return out


def load_escalation_config(path: Path, roster: RosterConfig) -> EscalationConfig:
    """Read and validate the policies; every target must exist in ``roster``. Raises ``ConfigError``."""
    cfg, data, lines = validate_file(EscalationConfig, path)
    problems = [
        problem_at(str(path), data, lines, loc, msg, exact=True)
        for loc, msg in reference_problems(cfg, roster)
    ]
    if problems:
        raise ConfigError(problems)
    return cfg
