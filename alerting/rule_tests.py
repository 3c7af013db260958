"""Unit tests for rules, in the manner of ``promtool test rules``: a YAML file describes sources, what they
report and when, events, and which alerts must be firing at given times.

    rule_files: [../hosts.yaml]          # relative to this file
    evaluation_interval: 15s
    tests:
      - name: a filling disk fires after 5 minutes
        sources:
          - kind: agent
            name: his-db-01
            labels: {site: main, system: HIS}
            interval: 15s
            reports:
              - at: 0s
                until: 10m                # repeat every ``every`` (default: the interval) up to here
                report_file: his-db-01.json   # optional: a recorded report (wardwatch-agent --once --print)
                series:                   # added to it, or instead of it
                  'wardwatch_filesystem_used_ratio{mountpoint="/data",device="/dev/sdb1",fstype="xfs"}': 0.95
        events:
          - {at: 2m, kind: snmp.linkDown, source: core-sw-01, labels: {if_index: "3"}}
        checks:
          - at: 6m
            rule: FilesystemAlmostFull
            firing:                       # every firing alert of the rule, each matched by these labels
              - labels: {host: his-db-01, mountpoint: /data}
                value: 0.95               # optional

Time runs from ``start`` in steps of ``evaluation_interval`` (and stops at each check), evaluating the rules with
``alerting.rules.evaluate`` exactly as the runner does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alerting.rule_config import Duration, RuleSet, load_rules, rule_files
from alerting.rules import AlertState, Phase, evaluate
from alerting.yaml_lines import ConfigError, ConfigProblem, problems_from_validation, read_yaml_file
from collector.state import SeriesKey, Snapshot, SourceKind, State

_SERIES = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_series(text: str) -> SeriesKey:
    """``name{a="1",b="2"}`` -> a ``SeriesKey``."""
    m = _SERIES.match(text)
    if not m:
        raise ValueError(f'bad series {text!r}: expected name{{label="value",...}}')
    name, body = m.group(1), (m.group(2) or "").strip()
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        lm = _LABEL.match(body, pos)
        if not lm:
            raise ValueError(f"bad series {text!r}: cannot read labels at {body[pos:]!r}")
        labels[lm.group(1)] = lm.group(2).replace('\\"', '"').replace("\\\\", "\\")
        pos = lm.end()
    return (name, tuple(sorted(labels.items())))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportConfig(_Model):
    at: Duration
    until: Duration | None = None
    every: Duration | None = None
    # a recorded agent report (``wardwatch-agent --once --print > his-db-01.json``), relative to the test file;
    # ``series`` add to it or override it
    report_file: str | None = None
    series: dict[str, float] = {}

    @field_validator("series")
    @classmethod
    def _keys(cls, v: dict[str, float]) -> dict[str, float]:
        for text in v:
            parse_series(text)
        return v


class SourceConfig(_Model):
    kind: Literal["agent", "snmp"]
    name: Annotated[str, Field(min_length=1)]
    labels: dict[str, str] = {}
    interval: Duration = 15.0
    parent: str | None = None
    clock_skew: float | None = None
    error_from: Duration | None = None  # SNMP: polls fail from this time on
    reports: list[ReportConfig] = []


class EventConfig(_Model):
    at: Duration
    kind: str
    source: str = ""
    source_kind: Literal["agent", "snmp"] = "snmp"
    labels: dict[str, str] = {}


class ExpectedAlert(_Model):
    labels: dict[str, str] = {}
    value: float | None = None


class CheckConfig(_Model):
    at: Duration
    rule: str
    firing: list[ExpectedAlert] = []


class RuleTestConfig(_Model):
    name: str
    start: datetime = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    sources: list[SourceConfig] = []
    events: list[EventConfig] = []
    checks: Annotated[list[CheckConfig], Field(min_length=1)]


class RuleTestFileConfig(_Model):
    rule_files: Annotated[list[str], Field(min_length=1)]
    evaluation_interval: Duration = 15.0
    tests: Annotated[list[RuleTestConfig], Field(min_length=1)]


@dataclass(frozen=True)
class _Event:
    kind: str
    source_kind: str
    source_name: str
    labels: dict[str, str]
    received_at: float


@dataclass
class TestResult:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def load_test_file(path: Path) -> tuple[RuleTestFileConfig, RuleSet]:
    data, lines = read_yaml_file(path)
    try:
        cfg = RuleTestFileConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(err, file=str(path), data=data, lines=lines)) from err
    paths: list[Path] = []
    for name in cfg.rule_files:
        p = (path.parent / name).resolve()
        paths.extend(rule_files(p) if p.is_dir() else [p])
    return cfg, load_rules(paths)


def _recorded(base: Path, name: str) -> dict[SeriesKey, float]:
    """The samples of a recorded agent report, as the collector's ingest would flatten it."""
    from agent.wire import Report
    from collector.host_metrics import flatten_report

    path = base / name
    try:
        report = Report.model_validate_json(path.read_bytes())
    except OSError as err:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {err.strerror}")]) from err
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError([ConfigProblem(str(path), None, where, first["msg"])]) from err
    return flatten_report(report)


def run_test(test: RuleTestConfig, rules: RuleSet, interval: float, *, base: Path = Path(".")) -> TestResult:
    result = TestResult(test.name)
    names = {r.name for r in rules.rules}
    for check in test.checks:
        if check.rule not in names:
            result.failures.append(f"check at {check.at:g}s: no rule named {check.rule!r}")
    if result.failures:
        return result
    t0 = test.start.timestamp()
    state = State(window_seconds=3600.0, max_snapshots=10_000)
    timeline: list[tuple[float, int, object]] = []  # (t, order, what)
    for src_cfg in test.sources:
        src = state.upsert_source(
            SourceKind(src_cfg.kind),
            src_cfg.name,
            labels=src_cfg.labels,
            interval_seconds=src_cfg.interval,
            parent=src_cfg.parent,
        )
        src.clock_skew_seconds = src_cfg.clock_skew
        for rep in src_cfg.reports:
            samples = _recorded(base, rep.report_file) if rep.report_file else {}
            samples.update({parse_series(k): v for k, v in rep.series.items()})
            step = rep.every or src_cfg.interval
            t = rep.at
            end = rep.until if rep.until is not None else rep.at
            while t <= end + 1e-9:
                timeline.append((t, 0, (src, samples)))
                t += step
        if src_cfg.error_from is not None:
            timeline.append((src_cfg.error_from, 1, (src, None)))
    for ev in test.events:
        timeline.append((ev.at, 2, _Event(ev.kind, ev.source_kind, ev.source, dict(ev.labels), t0 + ev.at)))
    timeline.sort(key=lambda item: (item[0], item[1]))
    last = max(c.at for c in test.checks)
    steps = sorted({*(i * interval for i in range(int(last // interval) + 1)), *(c.at for c in test.checks)})
    states: dict[str, AlertState] = {}
    pos = 0
    for t in steps:
        events: list[_Event] = []
        while pos < len(timeline) and timeline[pos][0] <= t:
            at, order, what = timeline[pos]
            pos += 1
            if order == 2:
                assert isinstance(what, _Event)
                events.append(what)
                continue
            src, samples = what  # type: ignore[misc]
            if samples is None:
                state.mark_error(src, "timeout")
            else:
                state.record(src, Snapshot(t0 + at, t0 + at, samples=samples))
        now = datetime.fromtimestamp(t0, UTC) + timedelta(seconds=t)
        _, states = evaluate(rules.rules, state, now, states, events=events, plans=rules.plans)
        for check in (c for c in test.checks if c.at == t):
            result.failures.extend(_compare(check, states))
    return result


def _compare(check: CheckConfig, states: dict[str, AlertState]) -> list[str]:
    firing = [s for s in states.values() if s.rule == check.rule and s.phase is Phase.FIRING]
    unmatched = list(firing)
    problems = []
    for exp in check.firing:
        found = next(
            (
                s
                for s in unmatched
                if all(s.labels.get(k) == v for k, v in exp.labels.items())
                and (
                    exp.value is None
                    or (s.value is not None and math.isclose(s.value, exp.value, rel_tol=1e-6))
                )
            ),
            None,
        )
        if found is None:
            problems.append(
                f"at {check.at:g}s {check.rule}: expected firing {exp.model_dump(exclude_none=True)}"
            )
        else:
            unmatched.remove(found)
    for s in unmatched:
        problems.append(f"at {check.at:g}s {check.rule}: unexpected firing {dict(s.labels)} value={s.value}")
    return problems
