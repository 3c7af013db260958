"""The agent's settings as the running agent holds them: plain frozen dataclasses, no pydantic.

``agent/settings.py`` (pydantic-settings) reads and validates the YAML file and the environment and explains
what is wrong; ``wardwatch-agent`` does that in a short-lived child process (see ``agent/__main__.py``), so
pydantic, pydantic-settings and PyYAML never load in the long-running daemon. What the child validated comes
back as JSON (:meth:`AgentSettings.runtime_dict`) and becomes an :class:`AgentConfig` here, field for field
(``tests/agent/test_settings.py`` checks the two stay in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _path(value: str | None) -> Path | None:
    return Path(value) if value is not None else None


@dataclass(frozen=True)
class Labels:
    site: str = ""
    system: str = ""
    role: str = ""
    department: str = ""

    def as_dict(self) -> dict[str, str]:
        pairs = (
            ("site", self.site),
            ("system", self.system),
            ("role", self.role),
            ("department", self.department),
        )
        return {k: v for k, v in pairs if v}


@dataclass(frozen=True)
class TlsConfig:
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None


@dataclass(frozen=True)
class SpoolConfig:
    dir: Path
    max_bytes: int
    max_age_seconds: float


@dataclass(frozen=True)
class TimeoutsConfig:
    connect_seconds: float
    send_seconds: float
    check_seconds: float


@dataclass(frozen=True)
class RetryConfig:
    attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float


@dataclass(frozen=True)
class ProcessCheckConfig:
    name: str
    process_name: str | None = None
    cmdline_regex: str | None = None


@dataclass(frozen=True)
class PortCheckConfig:
    name: str
    target: str  # host:port, validated

    @property
    def host(self) -> str:
        return self.target.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.target.rpartition(":")[2])


@dataclass(frozen=True)
class HttpCheckConfig:
    name: str
    url: str
    expect_status: int = 200
    verify_tls: bool = True
    ca_file: Path | None = None


@dataclass(frozen=True)
class FileCheckConfig:
    name: str
    glob: str


@dataclass(frozen=True)
class ChecksConfig:
    processes: tuple[ProcessCheckConfig, ...] = ()
    ports: tuple[PortCheckConfig, ...] = ()
    http: tuple[HttpCheckConfig, ...] = ()
    files: tuple[FileCheckConfig, ...] = ()
    temperatures: bool = True


@dataclass(frozen=True)
class AgentConfig:
    host: str
    labels: Labels
    parent: str | None
    collectors: tuple[str, ...]
    token: str | None = field(repr=False)  # never in a repr, a log line or an error
    interval_seconds: float
    prompt_reports: bool
    tls: TlsConfig
    spool: SpoolConfig
    timeouts: TimeoutsConfig
    retry: RetryConfig
    checks: ChecksConfig
    log_level: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentConfig:
        """From :meth:`agent.settings.AgentSettings.runtime_dict` (already validated: no checks here)."""
        tls, spool, checks = data["tls"], data["spool"], data["checks"]
        return cls(
            host=data["host"],
            labels=Labels(**data["labels"]),
            parent=data["parent"],
            collectors=tuple(data["collectors"]),
            token=data["token"],
            interval_seconds=data["interval_seconds"],
            prompt_reports=data["prompt_reports"],
            tls=TlsConfig(**{k: _path(v) for k, v in tls.items()}),
            spool=SpoolConfig(
                dir=Path(spool["dir"]), max_bytes=spool["max_bytes"], max_age_seconds=spool["max_age_seconds"]
            ),
            timeouts=TimeoutsConfig(**data["timeouts"]),
            retry=RetryConfig(**data["retry"]),
            checks=ChecksConfig(
                processes=tuple(ProcessCheckConfig(**c) for c in checks["processes"]),
                ports=tuple(PortCheckConfig(**c) for c in checks["ports"]),
                http=tuple(HttpCheckConfig(**{**c, "ca_file": _path(c["ca_file"])}) for c in checks["http"]),
                files=tuple(FileCheckConfig(**c) for c in checks["files"]),
                temperatures=checks["temperatures"],
            ),
            log_level=data["log_level"],
        )

    def sending_problems(self) -> list[str]:
        """What is missing to send reports (``--print`` alone needs none of it)."""
        problems = []
        if not self.collectors:
            problems.append("collectors: at least one collector URL is needed to send reports")
        if not self.token:
            problems.append("token: a token is needed to send reports")
        return problems
