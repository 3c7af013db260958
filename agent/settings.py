"""The agent's settings: one YAML file plus ``WARDWATCH_AGENT_*`` environment variables.

Validated once at start-up with :func:`agent.settings_file.load_settings` (in a short-lived child process: see
``agent/__main__.py``); the running agent holds the result as an :class:`agent.config.AgentConfig`. Limits that
the wire format (``agent/wire.py``) puts on values copied into every report are checked here, so that a label
too long for the collector is a configuration error at start-up, not a refused report every cycle.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.redact import redact_url
from agent.report import MAX_NAME
from agent.wire import AgentInfo

Seconds = Annotated[float, Field(gt=0, le=3600)]
WireName = Annotated[str, Field(min_length=1, max_length=255)]  # wire.Name
WireLabel = Annotated[str, Field(max_length=255)]  # wire.LabelValue


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labels(_Section):
    site: WireLabel = ""
    system: WireLabel = ""  # HIS, EMR, PACS, LIS, ...
    role: WireLabel = ""
    department: WireLabel = ""


class TlsSettings(_Section):
    ca_file: FilePath | None = None  # None: the system's trust store
    client_cert_file: FilePath | None = None
    client_key_file: FilePath | None = None

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsSettings:
        if self.client_key_file is not None and self.client_cert_file is None:
            raise ValueError("client_key_file is set but client_cert_file is not")
        return self


class SpoolSettings(_Section):
    dir: Path = Path("/var/lib/wardwatch-agent/spool")
    max_bytes: Annotated[int, Field(ge=0)] = 64 * 1024 * 1024
    max_age_seconds: Annotated[float, Field(gt=0)] = 3 * 24 * 3600


class TimeoutSettings(_Section):
    connect_seconds: Seconds = 5.0
    send_seconds: Seconds = 10.0  # one POST, all included
    check_seconds: Seconds = 5.0  # one configured check (port, HTTP, files, processes)


class RetrySettings(_Section):
    attempts: Annotated[int, Field(ge=1, le=10)] = 3  # rounds over all collectors for a fresh report
    backoff_base_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    backoff_max_seconds: Annotated[float, Field(ge=0, le=600)] = 30.0


class ProcessCheckConfig(_Section):
    name: str = Field(min_length=1, max_length=255)
    process_name: str | None = None  # exact process name, e.g. "postgres"
    cmdline_regex: str | None = None  # searched in the space-joined command line

    @field_validator("cmdline_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(f"not a valid regular expression: {err}") from None
        return value

    @model_validator(mode="after")
    def _one_matcher(self) -> ProcessCheckConfig:
        if (self.process_name is None) == (self.cmdline_regex is None):
            raise ValueError("give exactly one of process_name or cmdline_regex")
        return self


class PortCheckConfig(_Section):
    name: str = Field(min_length=1, max_length=255)
    target: WireName  # host:port

    @field_validator("target")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port with a port between 1 and 65535")
        return value


class HttpCheckConfig(_Section):
    name: str = Field(min_length=1, max_length=255)
    url: Annotated[str, Field(min_length=1, max_length=2048)]  # reported redacted, in at most 255 characters
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    verify_tls: bool = True
    ca_file: FilePath | None = None  # for an internal CA; None: the system's trust store

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        if len(redact_url(value)) > MAX_NAME:  # reports carry it so (no quote here: it may hold a secret)
            raise ValueError(f"the URL as reported, its secrets redacted, is over {MAX_NAME} characters")
        return value


class FileCheckConfig(_Section):
    name: str = Field(min_length=1, max_length=255)
    glob: WireName  # e.g. /backup/his/*.dump


class ChecksSettings(_Section):
    processes: list[ProcessCheckConfig] = []
    ports: list[PortCheckConfig] = []
    http: list[HttpCheckConfig] = []
    files: list[FileCheckConfig] = []
    temperatures: bool = True


def _hostname() -> str:
    return socket.gethostname() or "localhost"


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WARDWATCH_AGENT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    host: str = Field(default_factory=_hostname)
    labels: Labels = Labels()
    parent: WireName | None = None
    collectors: list[str] = []  # base URLs; the agent POSTs to <url>/api/v1/reports
    token: SecretStr | None = None
    interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 15.0
    # report at once, between cycles, when the kernel says a checked port's listener closed or a checked
    # service's processes all exited (agent/watch.py); false: only every interval
    prompt_reports: bool = True
    tls: TlsSettings = TlsSettings()
    spool: SpoolSettings = SpoolSettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    retry: RetrySettings = RetrySettings()
    checks: ChecksSettings = ChecksSettings()
    log_level: str = "INFO"

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        # The same rule the collector applies (wire.AgentInfo), checked at start-up.
        AgentInfo(host=value, version="0")
        return value

    @field_validator("token")
    @classmethod
    def _header_safe(cls, value: SecretStr | None) -> SecretStr | None:
        # It travels in an HTTP header; the message must not quote it.
        if value is not None and not all(33 <= ord(c) < 127 for c in value.get_secret_value()):
            raise ValueError("the token may only contain printable ASCII characters, no spaces")
        return value

    @field_validator("collectors")
    @classmethod
    def _collector_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"collector {redact_url(url)!r}: expected an http:// or https:// base URL")
        return [url.rstrip("/") for url in value]

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    def runtime_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready values, for :meth:`agent.config.AgentConfig.from_dict` (token included)."""
        data = self.model_dump(mode="json")
        data["token"] = self.token.get_secret_value() if self.token is not None else None
        return data
