"""The agent report wire format: one versioned JSON document per collection cycle.

This module is the only part of ``agent`` that the collector imports. The collector accepts
``SCHEMA_VERSION`` and ``SCHEMA_VERSION - 1`` (see docs/wire-format.md for the history).
The running agent does not import it (nor pydantic): it builds reports as dicts of this shape
(``agent/report.py``), and the agent's tests validate them against these models.

Conventions: times are Unix seconds (float, UTC); sizes are bytes; counters are cumulative since the
host booted (the collector computes rates); ratios are 0..1. A check that could not run carries
``error`` and no value, rather than a made-up value.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from agent.redact import redact_url
from agent.report import SCHEMA_VERSION  # defined once, there: the running agent does not import this module

ACCEPTED_SCHEMA_VERSIONS = frozenset({SCHEMA_VERSION, SCHEMA_VERSION - 1}) - {0}

# Asset labels an agent may carry; they become Prometheus labels on every series of that host.
ASSET_LABELS = ("site", "system", "role", "department")

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
LabelValue = Annotated[str, StringConstraints(max_length=255)]
NonNeg = Annotated[float, Field(ge=0)]
Counter = Annotated[int, Field(ge=0)]
Ratio = Annotated[float, Field(ge=0, le=1)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentInfo(_Wire):
    host: Annotated[
        str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ]
    version: Name
    labels: dict[
        Annotated[str, StringConstraints(pattern=r"^(site|system|role|department)$")], LabelValue
    ] = {}
    parent: Name | None = None  # the switch this host hangs off (dependency suppression)


class CpuSample(_Wire):
    usage_ratio: Ratio  # 1 - idle - iowait over the last cycle, all CPUs
    mode_ratio: dict[Name, Ratio] = {}  # user, system, iowait, idle, ... over the last cycle
    mode_seconds_total: dict[Name, NonNeg] = {}  # cumulative CPU seconds by mode, summed over CPUs
    count: Annotated[int, Field(ge=1)]


class MemorySample(_Wire):
    total_bytes: Counter
    available_bytes: Counter
    used_bytes: Counter
    swap_total_bytes: Counter = 0
    swap_used_bytes: Counter = 0


class SystemSample(_Wire):
    load1: NonNeg
    load5: NonNeg
    load15: NonNeg
    boot_time_seconds: NonNeg
    processes: Counter
    users: Counter
    cpu: CpuSample
    memory: MemorySample


class FilesystemSample(_Wire):
    mountpoint: Name
    device: LabelValue
    fstype: LabelValue
    size_bytes: Counter
    free_bytes: Counter  # available to unprivileged users
    used_bytes: Counter
    inodes_total: Counter | None = None
    inodes_free: Counter | None = None


class DiskSample(_Wire):
    device: Name
    read_bytes_total: Counter
    written_bytes_total: Counter
    reads_total: Counter
    writes_total: Counter
    io_time_seconds_total: NonNeg  # busy time


class InterfaceSample(_Wire):
    interface: Name
    up: bool
    speed_bits_per_second: NonNeg | None = None
    received_bytes_total: Counter
    sent_bytes_total: Counter
    received_packets_total: Counter
    sent_packets_total: Counter
    receive_errors_total: Counter
    transmit_errors_total: Counter
    receive_drops_total: Counter
    transmit_drops_total: Counter


class ProcessCheck(_Wire):
    name: Name  # the check's name from config, e.g. "his-db"
    count: Counter
    cpu_ratio: NonNeg = 0.0  # sum over matching processes, 1.0 = one full core
    rss_bytes: Counter = 0


class PortCheck(_Wire):
    name: Name
    target: Name  # host:port
    up: bool
    connect_seconds: NonNeg | None = None
    error: str | None = None


class HttpCheck(_Wire):
    name: Name
    # Agents send it without credentials; one that does not (an older agent) has them removed here, so that
    # no user:password@ or ?token= value reaches the collector's state, /metrics or rules.
    url: Annotated[Name, AfterValidator(redact_url)]
    up: bool
    status_code: int | None = None
    duration_seconds: NonNeg | None = None
    tls_cert_expiry_seconds: float | None = None  # Unix time the leaf certificate expires
    error: str | None = None


class FileCheck(_Wire):
    name: Name  # e.g. "his-db-backup"
    pattern: Name  # the glob
    files: Counter  # how many files matched
    newest_mtime_seconds: NonNeg | None = None
    newest_size_bytes: Counter | None = None
    previous_size_bytes: Counter | None = None  # size of the second-newest file, to spot a shrunken backup
    error: str | None = None


class TemperatureSample(_Wire):
    sensor: Name  # psutil's group name, e.g. "coretemp"
    label: LabelValue
    celsius: float
    high_celsius: float | None = None
    critical_celsius: float | None = None


class Report(_Wire):
    """One collection cycle of one host."""

    schema_version: Annotated[int, Field(alias="schema")]
    agent: AgentInfo
    timestamp: NonNeg  # the agent's clock when it collected: the collector measures skew from it
    sent_at: NonNeg | None = (
        None  # the agent's clock when it (re)sent: late spooled reports have sent_at >> timestamp
    )
    seq: Counter  # per agent run, increasing; with timestamp it identifies a report
    interval_seconds: Annotated[float, Field(gt=0, le=86400)]
    system: SystemSample
    filesystems: list[FilesystemSample] = []
    disks: list[DiskSample] = []
    interfaces: list[InterfaceSample] = []
    processes: list[ProcessCheck] = []
    ports: list[PortCheck] = []
    http: list[HttpCheck] = []
    files: list[FileCheck] = []
    temperatures: list[TemperatureSample] = []

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, value: int) -> int:
        if value not in ACCEPTED_SCHEMA_VERSIONS:
            accepted = ", ".join(str(v) for v in sorted(ACCEPTED_SCHEMA_VERSIONS))
            raise ValueError(f"unsupported report schema {value}; this collector accepts {accepted}")
        return value

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()
