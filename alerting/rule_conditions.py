"""The conditions of the rules, over one source's state: what each rule type observes now.

Used by ``alerting.rules.evaluate`` (pure, no I/O). ``EvalContext`` holds the per-call caches: which sources a
selector picks, each latest snapshot indexed by metric name, and windows, rates and predictions that several
rules share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

from alerting.model import fingerprint_for
from alerting.rule_config import (
    OPS,
    SELECTOR_LABELS,
    AllCondition,
    ChangeCondition,
    CompareCondition,
    Comparison,
    MissingCondition,
    PredictCondition,
    RateCondition,
    RuleConfig,
    Selector,
    ThresholdCondition,
)
from collector.snmp import counters
from collector.state import SeriesKey, SourceKind, SourceState, State

AGENT_CLOCK_SKEW = "wardwatch_agent_clock_skew_seconds"  # from the source, not a report (host_metrics)
SourceRef = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class EvaluationOptions:
    stale_after_intervals: float = 3.0
    update_interval_seconds: float = 300.0


class Observation:
    """One instance of a rule as seen now. Labels and fingerprint are built only when needed (most
    observations neither trigger nor have a state), which is most of the cost of a naive evaluator."""

    __slots__ = ("_fp", "_labels", "cleared", "rule", "series", "source", "src", "trigger", "value")

    def __init__(
        self,
        rule: RuleConfig,
        src: SourceState | None,
        series: tuple[tuple[str, str], ...],
        value: float | None,
        trigger: bool,
        cleared: bool,  # the clear condition holds (= not trigger when the rule has none)
        *,
        labels: dict[str, str] | None = None,
        source: SourceRef | None = None,
    ) -> None:
        self.rule, self.src, self.series = rule, src, series
        self.value, self.trigger, self.cleared = value, trigger, cleared
        self.source = source if source is not None or src is None else (src.kind.value, src.name)
        self._labels = labels
        self._fp: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        if self._labels is None:
            assert self.src is not None
            self._labels = _labels(self.rule, self.src, self.series)
        return self._labels

    @property
    def fingerprint(self) -> str:
        if self._fp is None:
            self._fp = fingerprint_for(self.rule.name, self.labels)
        return self._fp


# ---------------------------------------------------------------------------------------- reading state


@lru_cache(maxsize=4096)
def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def full_match(pattern: str, text: str) -> bool:
    return _rx(pattern).fullmatch(text) is not None


class EvalContext:
    """Per-call caches: which sources a selector picks, and each latest snapshot indexed by metric name."""

    def __init__(
        self, state: State, t: float, options: EvaluationOptions, scope: set[SourceRef] | None
    ) -> None:
        self.state, self.t, self.options = state, t, options
        self._index: dict[int, dict[str, list[tuple[SeriesKey, float]]]] = {}
        if scope is None:
            self._all = list(state.sources())
        else:  # the immediate path: one source, not a scan of all of them
            found = (state.get(SourceKind(kind), name) for kind, name in scope)
            self._all = [src for src in found if src is not None]
        self._selected: dict[tuple[object, ...], list[SourceState]] = {}  # rules share selectors
        self._windows: dict[tuple[int, SeriesKey], list[tuple[float, float]]] = {}
        self._memo: dict[tuple[object, ...], float | None] = {}

    def sources(self, sel: Selector) -> list[SourceState]:
        key = (*(getattr(sel, f) for f in _SELECTOR_FIELDS), tuple(sorted(sel.labels.items())))
        picked = self._selected.get(key)
        if picked is None:
            picked = self._selected[key] = [src for src in self._all if selects(sel, src)]
        return picked

    def window(self, src: SourceState, key: SeriesKey) -> list[tuple[float, float]]:
        """The series' window, read once per call however many rules look at it."""
        cache_key = (id(src), key)
        points = self._windows.get(cache_key)
        if points is None:
            points = self._windows[cache_key] = src.series_window(key)
        return points

    def memo(
        self, src: SourceState, key: SeriesKey, what: tuple[object, ...], compute: Callable[[], float | None]
    ) -> float | None:
        """A rate or a prediction of one series, computed once per call for rules that share it."""
        cache_key = (id(src), key, what)
        if cache_key in self._memo:
            return self._memo[cache_key]
        value = self._memo[cache_key] = compute()
        return value

    def stale(self, src: SourceState) -> bool:
        if src.last_seen is None:
            return True
        return self.t - src.last_seen > src.interval_seconds * self.options.stale_after_intervals

    def series(self, src: SourceState, metric: str) -> list[tuple[SeriesKey, float]]:
        snap = src.latest()
        out: list[tuple[SeriesKey, float]] = []
        if snap is not None:
            index = self._index.get(id(snap))
            if index is None:
                index = {}
                for key, value in snap.samples.items():
                    index.setdefault(key[0], []).append((key, value))
                self._index[id(snap)] = index
            out = index.get(metric, [])
        if metric == AGENT_CLOCK_SKEW and src.clock_skew_seconds is not None:
            out = [*out, ((AGENT_CLOCK_SKEW, ()), src.clock_skew_seconds)]
        return out


_SELECTOR_FIELDS = ("kind", "host", "device", *SELECTOR_LABELS)


def selects(sel: Selector, src: SourceState) -> bool:
    if sel.kind is not None and src.kind.value != sel.kind:
        return False
    if sel.host is not None and (src.kind is not SourceKind.AGENT or not full_match(sel.host, src.name)):
        return False
    if sel.device is not None and (src.kind is not SourceKind.SNMP or not full_match(sel.device, src.name)):
        return False
    for label in SELECTOR_LABELS:
        pattern = getattr(sel, label)
        if pattern is not None and not full_match(pattern, src.labels.get(label, "")):
            return False
    return all(full_match(p, src.labels.get(k, "")) for k, p in sel.labels.items())


def source_labels(src: SourceState) -> dict[str, str]:
    labels = dict(src.labels)
    labels["host" if src.kind is SourceKind.AGENT else "device"] = src.name
    return labels


def matches(match: Mapping[str, str], labels: Iterable[tuple[str, str]]) -> bool:
    if not match:
        return True
    have = dict(labels)
    return all(full_match(p, have.get(k, "")) for k, p in match.items())


def _labels(rule: RuleConfig, src: SourceState, key_labels: Iterable[tuple[str, str]]) -> dict[str, str]:
    labels = source_labels(src)
    labels.update(key_labels)
    labels.update(rule.labels)
    return labels


def _compare(c: Comparison | None, value: float, trigger: bool) -> bool:
    return (not trigger) if c is None else OPS[c.op](value, c.value)


# ------------------------------------------------------------------------------------- the conditions


def observe(rule: RuleConfig, src: SourceState, ctx: EvalContext, keep: bool) -> Iterable[Observation]:
    """The rule's observations of one source: those that trigger, and with ``keep`` (the source has alert
    states for this rule) also those that do not, so a firing alert can see it cleared."""
    c = rule.condition
    ref = (src.kind.value, src.name)
    if isinstance(c, MissingCondition):
        yield _missing(rule, c, src, ctx.t)
    elif isinstance(c, ThresholdCondition):
        for key, raw in ctx.series(src, c.metric):
            if matches(c.match, key[1]):
                v = _transform(c.transform, raw, ctx.t)
                trig = OPS[c.op](v, c.value)
                if trig or keep:
                    yield Observation(rule, src, key[1], v, trig, _compare(c.clear, v, trig), source=ref)
    elif isinstance(c, CompareCondition):
        others = {key[1]: v for key, v in ctx.series(src, c.other)}
        for key, v in ctx.series(src, c.metric):
            if matches(c.match, key[1]) and key[1] in others:
                trig = OPS[c.op](v, others[key[1]] * c.factor)
                if trig or keep:
                    yield Observation(rule, src, key[1], v, trig, not trig, source=ref)
    elif isinstance(c, AllCondition):
        yield from _all(rule, c, src, ctx, keep)
    elif isinstance(c, ChangeCondition):
        for key, _ in ctx.series(src, c.metric):
            if matches(c.match, key[1]):
                delta = _last_change(c, src, key, ctx.t)
                trig = delta is not None
                if trig or keep:
                    yield Observation(rule, src, key[1], delta, trig, not trig, source=ref)
    elif isinstance(c, RateCondition):
        for key, _ in ctx.series(src, c.metric):
            if matches(c.match, key[1]):
                r = ctx.memo(src, key, ("rate", c.window), partial(_rate, ctx, src, key, c.window))
                if r is not None:
                    trig = OPS[c.op](r, c.value)
                    if trig or keep:
                        yield Observation(rule, src, key[1], r, trig, _compare(c.clear, r, trig), source=ref)
    elif isinstance(c, PredictCondition):
        limits = {k[1]: v for k, v in ctx.series(src, c.limit_metric)} if c.limit_metric else {}
        for key, _ in ctx.series(src, c.metric):
            if not matches(c.match, key[1]):
                continue
            limit = c.limit if c.limit is not None else limits.get(key[1])
            if limit is None:
                continue
            hours = ctx.memo(
                src,
                key,
                ("predict", limit, c.window, c.min_samples, c.min_span),
                partial(_predict, ctx, src, key, limit, c),
            )
            trig = hours is not None and hours <= c.hours
            if trig or keep:
                yield Observation(rule, src, key[1], hours, trig, not trig, source=ref)


def _rate(ctx: EvalContext, src: SourceState, key: SeriesKey, window: float) -> float | None:
    # One implementation of counter rates (wraps, restarts, bad readings, link limits): collector.snmp.counters.
    return counters.source_rate(src, key, window, read=partial(ctx.window, src))


def _predict(
    ctx: EvalContext, src: SourceState, key: SeriesKey, limit: float, c: PredictCondition
) -> float | None:
    return hours_until(ctx.window(src, key), limit, c.window, c.min_samples, c.min_span)


def _transform(kind: str, v: float, t: float) -> float:
    if kind == "abs":
        return abs(v)
    if kind == "age":
        return t - v
    if kind == "until":
        return v - t
    return v


def _missing(rule: RuleConfig, c: MissingCondition, src: SourceState, t: float) -> Observation:
    age = math.inf if src.last_seen is None else t - src.last_seen
    silent = age > src.interval_seconds * c.intervals
    failing = c.include_errors and src.last_error is not None
    trig = silent or failing
    value = age if math.isfinite(age) else None
    return Observation(rule, src, (), value, trig, not trig)


def _all(
    rule: RuleConfig, c: AllCondition, src: SourceState, ctx: EvalContext, keep: bool
) -> Iterable[Observation]:
    first, *rest = c.conditions
    others = [
        {
            k[1]: _transform(o.transform, v, ctx.t)
            for k, v in ctx.series(src, o.metric)
            if matches(o.match, k[1])
        }
        for o in rest
    ]
    for key, raw in ctx.series(src, first.metric):
        if not matches(first.match, key[1]) or any(key[1] not in o for o in others):
            continue
        v = _transform(first.transform, raw, ctx.t)
        trig = OPS[first.op](v, first.value) and all(
            OPS[o.op](vals[key[1]], o.value) for o, vals in zip(rest, others, strict=True)
        )
        if trig or keep:
            yield Observation(rule, src, key[1], v, trig, not trig)


def _last_change(c: ChangeCondition, src: SourceState, key: SeriesKey, t: float) -> float | None:
    """The newest change of the series in the window, if it came within ``hold`` of ``t``."""
    prev: float | None = None
    found: tuple[float, float] | None = None  # (received_at, delta)
    for snap in src.window:
        v = snap.samples.get(key)
        if v is None:
            continue
        if prev is not None:
            delta = v - prev
            up, down = delta > c.min_delta, -delta > c.min_delta
            if (c.direction == "increase" and up) or (c.direction == "decrease" and down):
                found = (snap.received_at, delta)
            elif c.direction == "any" and (up or down):
                found = (snap.received_at, delta)
        prev = v
    if found is None or t - found[0] > c.hold:
        return None
    return found[1]


def counter_rate(points: Sequence[tuple[float, float]], window_seconds: float) -> float | None:
    """Per-second increase over the last ``window_seconds`` of ``points`` (timestamp, value) of a 64-bit
    counter with no more known about it: ``collector.snmp.counters.rate`` (a drop is a reset, counting again
    from zero, unless the next reading is back above it; never negative)."""
    return counters.rate(points, window_seconds=window_seconds)


def hours_until(
    points: Sequence[tuple[float, float]],
    limit: float,
    window_seconds: float,
    min_samples: int,
    min_span_seconds: float,
) -> float | None:
    """Hours until a least-squares line through the window reaches ``limit``; None when it does not
    rise, or there is too little data. 0 when the series is already at the limit."""
    if not points:
        return None
    end = points[-1][0]
    pts = [p for p in points if p[0] >= end - window_seconds]
    if len(pts) < min_samples or pts[-1][0] - pts[0][0] < min_span_seconds:
        return None
    if pts[-1][1] >= limit:
        return 0.0
    n = len(pts)
    t0 = pts[0][0]
    mean_x = sum(p[0] - t0 for p in pts) / n
    mean_y = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - t0 - mean_x) ** 2 for p in pts)
    if sxx == 0:
        return None
    slope = sum((p[0] - t0 - mean_x) * (p[1] - mean_y) for p in pts) / sxx
    if slope <= 0:
        return None
    fitted_now = mean_y + slope * (end - t0 - mean_x)
    return max(0.0, (limit - fitted_now) / slope / 3600.0)
