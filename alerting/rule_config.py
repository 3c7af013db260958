"""Rule files: YAML in a directory, validated by pydantic (``extra="forbid"``), errors with file, line and field.

A rule file::

    plans:                       # optional: the emergency plan of each category
      system_failure: https://wiki.hospital.local/plans/system-failure
    rules:
      - name: FilesystemAlmostFull
        select: {kind: agent, system: "HIS|PACS"}         # regexes, full match, on asset labels
        condition:
          type: threshold
          metric: wardwatch_filesystem_used_ratio
          op: ">"
          value: 0.9
          clear: {op: "<", value: 0.85}                   # hysteresis
        for: 5m
        severity: major                                    # critical|major|minor|warning = P1..P4
        category: system_failure
        summary: "{host}: {mountpoint} is {value:.0%} full"

``load_rules_dir(path)`` reads every ``*.yaml``/``*.yml`` in a directory (sorted) and raises one
``ConfigError`` carrying every problem of every file (duplicate rule names across files included).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from alerting.model import Category, Severity
from alerting.yaml_lines import (
    ConfigError,
    ConfigProblem,
    line_of,
    problems_from_validation,
    read_yaml_file,
)

_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$"
)


def parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 5m, 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and any(m.groups()):
            d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            return d * 86400 + h * 3600 + mi * 60 + s
    raise ValueError(f"bad duration {value!r}: use seconds or a string like 30s, 5m, 1h30m, 2d")


Duration = Annotated[float, BeforeValidator(parse_duration)]
MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
Op = Literal[">", ">=", "<", "<=", "==", "!="]

OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _check_regexes(value: dict[str, str]) -> dict[str, str]:
    for label, pattern in value.items():
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"{label}: bad regex {pattern!r}: {err}") from err
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Comparison(_Model):
    op: Op
    value: float


class _SeriesCondition(_Model):
    metric: MetricName
    # series labels that must match (regex, full match), e.g. {mountpoint: "/|/data.*"}
    match: dict[str, str] = {}

    _v_match = field_validator("match")(_check_regexes)


class ThresholdCondition(_SeriesCondition):
    """``transform`` first: ``abs`` (|v|), ``age`` (now - v, for timestamps), ``until`` (v - now)."""

    type: Literal["threshold"]
    op: Op
    value: float
    transform: Literal["none", "abs", "age", "until"] = "none"
    clear: Comparison | None = None


class CompareCondition(_SeriesCondition):
    """``metric op other * factor`` for series of the same labels (e.g. newest backup < 0.5 x previous)."""

    type: Literal["compare"]
    op: Op
    other: MetricName
    factor: float = 1.0


class AllCondition(_Model):
    """Every threshold holds for the same label set (e.g. oper status down while admin status up).
    The alert's value is the first condition's."""

    type: Literal["all"]
    conditions: Annotated[list[ThresholdCondition], Field(min_length=2)]


class MissingCondition(_Model):
    """Heartbeat: the source sent nothing for more than ``intervals`` of its own interval (or is failing
    to be polled, with ``include_errors``). The alert's value is the seconds since it was last seen."""

    type: Literal["missing"]
    intervals: Annotated[float, Field(gt=0)] = 3.0
    include_errors: bool = True


class ChangeCondition(_SeriesCondition):
    """The series changed between two consecutive samples (boot time went forward, uptime went back):
    fires for ``hold`` after the change. The alert's value is the change."""

    type: Literal["change"]
    direction: Literal["increase", "decrease", "any"] = "any"
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    hold: Duration = 900.0


class RateCondition(_SeriesCondition):
    """Per-second increase of a counter over ``window`` (a drop is a counter reset, not a negative rate)."""

    type: Literal["rate"]
    window: Duration = 300.0
    op: Op
    value: float
    clear: Comparison | None = None


class PredictCondition(_SeriesCondition):
    """Linear fit over ``window``: fires when the series reaches ``limit`` (or ``limit_metric`` of the same
    labels) within ``hours``. The alert's value is the hours left."""

    type: Literal["predict"]
    hours: Annotated[float, Field(gt=0)]
    limit: float | None = None
    limit_metric: MetricName | None = None
    window: Duration = 3600.0
    min_samples: Annotated[int, Field(ge=2)] = 5
    min_span: Duration = 300.0

    @model_validator(mode="after")
    def _one_limit(self) -> PredictCondition:
        if (self.limit is None) == (self.limit_metric is None):
            raise ValueError("give exactly one of limit and limit_metric")
        return self


class EventCondition(_Model):
    """An event (SNMP trap, ...) whose kind matches ``event`` opens the alert at once; a matching
    ``clear_event`` with the same ``key`` labels, or ``timeout`` without a new event, resolves it."""

    type: Literal["event"]
    event: str  # regex, full match, on the event's kind (e.g. linkDown)
    match: dict[str, str] = {}
    key: list[str] = []  # event labels that name the instance (default: all the event's labels)
    clear_event: str | None = None
    timeout: Duration = 3600.0

    _v_match = field_validator("match")(_check_regexes)

    @field_validator("event", "clear_event")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as err:
                raise ValueError(f"bad regex {v!r}: {err}") from err
        return v


Condition = Annotated[
    ThresholdCondition
    | CompareCondition
    | AllCondition
    | MissingCondition
    | ChangeCondition
    | RateCondition
    | PredictCondition
    | EventCondition,
    Field(discriminator="type"),
]

SELECTOR_LABELS = ("site", "system", "role", "department", "room", "rack")


class Selector(_Model):
    """Which sources a rule looks at. Every field is a regex (full match); absent = any."""

    kind: Literal["agent", "snmp"] | None = None
    host: str | None = None  # agents' host name
    device: str | None = None  # SNMP devices' name
    site: str | None = None
    system: str | None = None
    role: str | None = None
    department: str | None = None
    room: str | None = None
    rack: str | None = None
    labels: dict[str, str] = {}  # any other asset label

    @field_validator("host", "device", *SELECTOR_LABELS)
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            _check_regexes({"": v})
        return v

    _v_labels = field_validator("labels")(_check_regexes)


class SameIncident(_Model):
    """Alerts of this rule and of ``rules`` about the same thing (equal values of the ``by`` labels) are one
    incident for people: the later one is attached to the open earlier one — recorded in the store and the
    timeline, paging nobody while the earlier one is open. E.g. a port's linkDown trap and its polled status."""

    rules: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    by: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class RuleConfig(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=100)]
    select: Selector = Selector()
    condition: Condition
    for_: Duration = Field(0.0, alias="for")
    severity: Severity
    category: Category
    summary: Annotated[str, Field(min_length=1)]
    description: str = ""
    plan_url: str | None = None
    labels: dict[str, str] = {}  # static labels added to the alert (e.g. team: network)
    same_incident: SameIncident | None = None

    @field_validator("summary", "description")
    @classmethod
    def _template(cls, v: str) -> str:
        check_template(v)
        return v

    @property
    def is_reachability(self) -> bool:
        return self.condition.type == "missing"


class RuleFileConfig(_Model):
    plans: dict[Category, str] = {}
    rules: list[RuleConfig] = []


class _AnyLabel(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def check_template(template: str) -> None:
    """Fail at load on a broken template (``{`` unclosed, bad format spec for a number)."""
    try:
        for _, field_name, _, _ in string.Formatter().parse(template):
            if field_name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field_name):
                raise ValueError(f"template field {{{field_name}}}: use a plain label name or value")
        render_template(template, {}, 0.0, strict=True)
    except (ValueError, IndexError, KeyError) as err:
        raise ValueError(f"bad template: {err}") from err


def render_template(
    template: str, labels: Mapping[str, str], value: float | None, *, strict: bool = False
) -> str:
    """``{label}`` and ``{value}`` (with a format spec: ``{value:.0%}``); a missing label renders empty."""
    data = _AnyLabel(labels)
    data["value"] = value if value is not None else float("nan")
    try:
        return template.format_map(data)
    except (ValueError, IndexError, KeyError):
        if strict:
            raise
        return template


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[RuleConfig, ...]
    plans: Mapping[str, str]  # rule name -> plan URL (the rule's own, or its category's from its file)
    files: tuple[str, ...]

    def plan_for(self, rule: RuleConfig) -> str | None:
        return self.plans.get(rule.name)


def load_rules_file(path: Path) -> tuple[RuleFileConfig, Any, dict]:
    data, lines = read_yaml_file(path)
    if data is None:
        data = {}
    try:
        return RuleFileConfig.model_validate(data), data, lines
    except ValidationError as err:
        raise ConfigError(problems_from_validation(err, file=str(path), data=data, lines=lines)) from err


def rule_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_rules(paths: list[Path]) -> RuleSet:
    """Validate every file; raise one ``ConfigError`` with every problem (duplicate names included)."""
    problems: list[ConfigProblem] = []
    rules: list[RuleConfig] = []
    plans: dict[str, str] = {}
    seen: dict[str, str] = {}
    references: list[tuple[str, int | None, str, str]] = []  # (file, line, field, rule name)
    for path in paths:
        try:
            cfg, _data, lines = load_rules_file(path)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        for i, rule in enumerate(cfg.rules):
            if rule.name in seen:
                problems.append(
                    ConfigProblem(
                        str(path),
                        line_of(lines, ("rules", i, "name")),
                        f"rules[{i}].name",
                        f"duplicate rule name {rule.name!r} (first in {seen[rule.name]})",
                    )
                )
                continue
            seen[rule.name] = str(path)
            rules.append(rule)
            if rule.same_incident is not None:
                for j, other in enumerate(rule.same_incident.rules):
                    where = ("rules", i, "same_incident", "rules", j)
                    field = f"rules[{i}].same_incident.rules[{j}]"
                    references.append((str(path), line_of(lines, where), field, other))
            plan = rule.plan_url or cfg.plans.get(rule.category)
            if plan:
                plans[rule.name] = plan
    for file, line, field, other in references:
        if other not in seen:
            problems.append(ConfigProblem(file, line, field, f"no rule named {other!r}"))
    if problems:
        raise ConfigError(problems)
    return RuleSet(tuple(rules), plans, tuple(str(p) for p in paths))


def load_rules_dir(directory: Path) -> RuleSet:
    if not directory.is_dir():
        raise ConfigError([ConfigProblem(str(directory), None, "", "not a directory")])
    return load_rules(rule_files(directory))


def metrics_of(rule: RuleConfig) -> list[str]:
    """Every metric name a rule reads (for checking rules against the catalog)."""
    c = rule.condition
    if isinstance(c, AllCondition):
        return [t.metric for t in c.conditions]
    if isinstance(c, CompareCondition):
        return [c.metric, c.other]
    if isinstance(c, PredictCondition):
        return [c.metric] + ([c.limit_metric] if c.limit_metric else [])
    if isinstance(c, MissingCondition | EventCondition):
        return []
    return [c.metric]
