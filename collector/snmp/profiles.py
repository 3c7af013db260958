"""Device profiles as data: which OIDs to GET or walk and the metric each becomes.

A profile is a YAML file (shipped in ``collector/snmp/profiles/``; users may add folders): scalars
fetched in one GET, tables walked by column, each value a gauge, counter, enum (a gauge holding the
code, with its names in the profile) or info (a string kept as a label of a ``*_info`` gauge of 1). Numeric OIDs only: there is
no MIB resolution at run time.

``translate(profile, scalars, tables)`` turns fetched values into state samples; it is pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from collector.catalog import MetricCatalog, MetricType
from collector.state import SeriesKey, series_key

SHIPPED_DIR = Path(__file__).with_name("profiles")

Oid = Annotated[str, StringConstraints(pattern=r"^1(\.(0|[1-9][0-9]*)){2,127}$")]
MetricName = Annotated[str, StringConstraints(pattern=r"^wardwatch_[a-z0-9_]+$")]
_SNAKE_CASE = re.compile(r"[a-z_][a-z0-9_]*")


def _snake_case(name: str) -> str:
    # Prometheus label names are snake_case (promtool check metrics flags camelCase): a MIB's ifName is if_name.
    if not _SNAKE_CASE.fullmatch(name):
        raise ValueError(f"label name {name!r} must be snake_case (a-z, 0-9, _): if_name, not ifName")
    return name


LabelName = Annotated[str, AfterValidator(_snake_case)]
Value = int | str  # what the client hands over: integers (any SNMP number) or text

# ENTITY-SENSOR-MIB entPhySensorScale: 1 yocto ... 9 units ... 17 yotta, powers of 1000.
_SENSOR_SCALE_EXPONENT = {i: (i - 9) * 3 for i in range(1, 18)}


class ProfileError(ValueError):
    def __init__(self, path: Path | str, problems: Iterable[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        super().__init__("\n".join(f"{self.path}: {p}" for p in self.problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorScaling(_Model):
    """ENTITY-SENSOR-MIB style: value × 1000^(scale-9) / 10^precision, both read from columns."""

    scale_oid: Oid
    precision_oid: Oid


class Column(_Model):
    oid: Oid
    metric: MetricName
    type: Literal["gauge", "counter", "enum", "info"]
    help: str = ""
    label: LabelName | None = None  # info only: the label that carries the text
    scale: float = 1.0  # multiply (e.g. 0.1 for tenths of a volt, 0.01 for TimeTicks → seconds)
    multiply_by: Oid | None = None  # another column of the row (hrStorageAllocationUnits)
    sensor: SensorScaling | None = None
    enum: dict[int, str] = {}
    bits: Literal[32, 64] = 64  # counters: width, for wrap handling in counters.rate()
    # counters: a gauge of the same table (or scalars) holding the most it can grow per second, e.g. the link
    # speed in bytes/s; a rate interval far above it is not trusted (counters.rate())
    max_rate: MetricName | None = None
    skip_values: list[float] = []  # sentinels that mean "no reading" (e.g. Huawei temperature 0)
    valid_max: float | None = None  # larger raw values mean "no reading" (2147483646 sentinels)
    labels: dict[LabelName, str] = {}  # constant labels for this column (e.g. direction: in)

    @model_validator(mode="after")
    def _check(self) -> Column:
        if self.type == "counter" and not self.metric.endswith("_total"):
            raise ValueError(f"counter {self.metric} must end with _total")
        if self.type != "counter" and self.metric.endswith("_total"):
            raise ValueError(f"only counters may end with _total ({self.metric})")
        if (self.type == "info") != self.metric.endswith("_info"):
            raise ValueError(f"{self.metric}: info columns, and only they, end with _info")
        if self.type == "info" and self.label is None:
            raise ValueError("an info column needs label: (the label that carries its text)")
        if self.type != "info" and self.label is not None:
            raise ValueError("label: is for info columns only")
        if self.type == "enum" and not self.enum:
            raise ValueError("an enum column needs enum: {code: name}")
        if self.max_rate is not None and self.type != "counter":
            raise ValueError("max_rate: is for counters only")
        return self


def _check_max_rates(columns: list[Column], where: str) -> None:
    """A counter's ``max_rate`` names a gauge among ``columns`` (its table's, or the scalars) without constant
    labels, so its series carries exactly the row's labels."""
    gauges = {c.metric for c in columns if c.type == "gauge" and not c.labels}
    for c in columns:
        if c.max_rate is not None and c.max_rate not in gauges:
            raise ValueError(
                f"{c.metric}: max_rate {c.max_rate} is not a gauge column (without labels:) of {where}"
            )


class Table(_Model):
    name: Annotated[str, StringConstraints(min_length=1)]
    # Label names for the row index; one name takes the whole index ("3", or "1.4.2").
    index: list[LabelName] = Field(min_length=1)
    # Label name → column OID whose text labels every row (if_name ← ifName, hr_storage_descr ← hrStorageDescr...).
    lookups: dict[LabelName, Oid] = {}
    columns: list[Column] = Field(min_length=1)

    @model_validator(mode="after")
    def _max_rates(self) -> Table:
        _check_max_rates(self.columns, f"table {self.name}")
        return self

    def walk_oids(self) -> list[str]:
        oids = dict.fromkeys(self.lookups.values())
        for c in self.columns:
            oids[c.oid] = None
            if c.multiply_by:
                oids[c.multiply_by] = None
            if c.sensor:
                oids[c.sensor.scale_oid] = None
                oids[c.sensor.precision_oid] = None
        return list(oids)


class Profile(_Model):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str = ""
    scalars: list[Column] = []
    tables: list[Table] = []

    @model_validator(mode="after")
    def _not_empty(self) -> Profile:
        if not self.scalars and not self.tables:
            raise ValueError("a profile needs scalars: or tables:")
        for c in self.scalars:
            if c.multiply_by or c.sensor:
                raise ValueError(f"{c.metric}: multiply_by/sensor are for table columns")
        _check_max_rates(self.scalars, "the scalars")
        return self

    def scalar_oids(self) -> list[str]:
        return [c.oid for c in self.scalars]

    def columns(self) -> Iterable[Column]:
        yield from self.scalars
        for t in self.tables:
            yield from t.columns

    def declare(self, catalog: MetricCatalog) -> None:
        # Info series are gauges named *_info with value 1 (the Prometheus info convention), so
        # they render the same whatever exposition does with MetricType.INFO.
        types = {
            "gauge": MetricType.GAUGE,
            "enum": MetricType.GAUGE,
            "counter": MetricType.COUNTER,
            "info": MetricType.GAUGE,
        }
        for c in self.columns():
            help_ = c.help or c.metric
            if c.enum:
                help_ += " (" + ", ".join(f"{k} {v}" for k, v in sorted(c.enum.items())) + ")"
            catalog.declare(c.metric, types[c.type], help_)


def parse_profile(raw: Any, path: Path | str) -> Profile:
    try:
        return Profile.model_validate(raw)
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors(include_url=False, include_input=False)
        ]
        raise ProfileError(path, problems) from None


def load_profile(path: Path) -> Profile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ProfileError(path, [f"cannot load: {err}"]) from None
    profile = parse_profile(raw, path)
    if profile.name != path.stem:
        raise ProfileError(path, [f"name: {profile.name!r} must match the file name {path.stem!r}"])
    return profile


def load_profiles(extra_dirs: Iterable[Path] = ()) -> dict[str, Profile]:
    """Shipped profiles, overridden by same-named files in ``extra_dirs`` (later folders win)."""
    profiles: dict[str, Profile] = {}
    for folder in (SHIPPED_DIR, *extra_dirs):
        for path in sorted(Path(folder).glob("*.yaml")):
            profiles[path.stem] = load_profile(path)
    # Names cannot clash across types: counters end _total, info series _info, gauges neither.
    return profiles


# -- translation ---------------------------------------------------------------------------------


@dataclass
class Translation:
    samples: dict[SeriesKey, float] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)  # scalar info values, e.g. sysDescr
    rows: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # table → index → lookups


def _number(value: Value | None, column: Column) -> float | None:
    if value is None or isinstance(value, str):
        return None
    raw = float(value)
    if raw in column.skip_values or (column.valid_max is not None and raw > column.valid_max):
        return None
    return raw * column.scale


def _index_labels(table: Table, index: str) -> dict[str, str]:
    if len(table.index) == 1:
        return {table.index[0]: index}
    parts = index.split(".")
    if len(parts) == len(table.index):
        return dict(zip(table.index, parts, strict=True))
    return {table.index[0]: index}


def translate(
    profile: Profile,
    scalars: Mapping[str, Value],
    tables: Mapping[str, Mapping[str, Value]],
) -> Translation:
    """``scalars``: OID → value; ``tables``: column OID → {row index: value}. Missing values
    (noSuchObject, sentinels) produce no sample."""
    out = Translation()
    infos: dict[str, dict[str, str]] = {}
    for c in profile.scalars:
        value = scalars.get(c.oid)
        if c.type == "info":
            if isinstance(value, str | int):
                infos.setdefault(c.metric, {})[c.label or "value"] = str(value)
                out.info[c.label or c.metric] = str(value)
            continue
        number = _number(value, c)
        if number is not None:
            out.samples[series_key(c.metric, **c.labels)] = number
    for metric, labels in infos.items():
        out.samples[series_key(metric, **labels)] = 1.0

    for t in profile.tables:
        lookups = {name: tables.get(oid, {}) for name, oid in t.lookups.items()}
        rows: dict[str, dict[str, str]] = {}
        for c in t.columns:
            for index, value in tables.get(c.oid, {}).items():
                labels = rows.get(index)
                if labels is None:
                    labels = _index_labels(t, index)
                    for name, values in lookups.items():
                        text = values.get(index)
                        if text is not None and str(text) != "":
                            labels[name] = str(text)
                    rows[index] = labels
                if c.type == "info":
                    if value is not None and str(value) != "":
                        out.samples[
                            series_key(c.metric, **labels, **c.labels, **{c.label or "value": str(value)})
                        ] = 1.0
                    continue
                number = _number(value, c)
                if number is None:
                    continue
                if c.multiply_by is not None:
                    factor = tables.get(c.multiply_by, {}).get(index)
                    if not isinstance(factor, int):
                        continue
                    number *= factor
                if c.sensor is not None:
                    scale = tables.get(c.sensor.scale_oid, {}).get(index)
                    precision = tables.get(c.sensor.precision_oid, {}).get(index)
                    exponent = _SENSOR_SCALE_EXPONENT.get(scale if isinstance(scale, int) else 9, 0)
                    digits = precision if isinstance(precision, int) and 0 <= precision <= 9 else 0
                    number = number * math.pow(10, exponent - digits)
                out.samples[series_key(c.metric, **labels, **c.labels)] = number
        out.rows[t.name] = rows
    return out
