"""The collector's settings: ``WARDWATCH_*`` environment variables over a YAML file (``--config``).

Nested settings use ``__`` in the environment, e.g. ``WARDWATCH_HTTP__PORT=9400``.
Sections for SNMP, alerting and rosters are added by those packages' issues; each section is a
plain pydantic model with ``extra="forbid"`` so a typo fails at start-up naming the field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.settings_file import load_settings
from alerting.notify.settings import NotifySettings
from collector.snmp.settings import SnmpSettings

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9400
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # When set, agents must present a client certificate signed by this CA (mutual TLS).
    tls_client_ca_file: Path | None = None
    max_report_bytes: Annotated[int, Field(ge=1024)] = 1_048_576  # after gunzip, too

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> HttpSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self


class AgentCredential(_Section):
    """One agent allowed to report. The token is stored only as its SHA-256 (hex);
    ``wardwatch agents token HOST`` makes a token and prints both."""

    host: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    token_sha256: Sha256Hex


class StateSettings(_Section):
    window_seconds: Annotated[float, Field(gt=0)] = 900.0
    max_snapshots: Annotated[int, Field(ge=2)] = 120
    # An agent or device is "up" while its newest observation is younger than this many intervals.
    stale_after_intervals: Annotated[float, Field(gt=1)] = 3.0


class IntakeToken(_Section):
    """A system allowed to open incidents through the intake API (Alertmanager, a script, the HIS team);
    the token is stored only as its SHA-256 (hex)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    token_sha256: Sha256Hex


class AlertingSettings(_Section):
    """Rules, their evaluation, the incident store and the intake API (alerting.component)."""

    enabled: bool = True
    rules_dir: Path | None = Path("deploy/rules")  # every *.yaml in it; None = no rules
    evaluation_interval_seconds: Annotated[float, Field(gt=0)] = 5.0
    # "postgresql://..." or a SQLite file path; None = wardwatch.db in data_dir
    store: SecretStr | None = None
    store_schema: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")] = "public"  # PostgreSQL
    intake_tokens: list[IntakeToken] = []
    # an alert that fires/resolves this often within the window is flapping: its incident stays open
    flapping_transitions: Annotated[int, Field(ge=2)] = 4
    flapping_window_seconds: Annotated[float, Field(gt=0)] = 3600.0
    flapping_quiet_seconds: Annotated[float, Field(gt=0)] = 900.0
    value_update_interval_seconds: Annotated[float, Field(ge=0)] = 300.0


class RosterSettings(_Section):
    """The duty roster and escalation policies (alerting.roster_api, alerting.escalation_component)."""

    enabled: bool = True
    path: Path = Path("rosters")  # a roster file, or a folder holding one (rosters/example-hospital.yaml)
    # the escalation policies; None = escalation.yaml beside the roster file
    escalation_file: Path | None = None
    escalation_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    # resolved incidents stay in view this long, for the stakeholders' "resolved" update
    resolved_grace_seconds: Annotated[float, Field(ge=0)] = 3600.0


class CollectorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WARDWATCH_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    data_dir: Path = Path("var")
    log_level: str = "INFO"
    http: HttpSettings = HttpSettings()
    state: StateSettings = StateSettings()
    snmp: SnmpSettings = SnmpSettings()
    agents: list[AgentCredential] = []
    alerting: AlertingSettings = AlertingSettings()
    notify: NotifySettings = NotifySettings()  # channels, link signing, outbox policy (alerting.notify)
    rosters: RosterSettings = RosterSettings()
    # Development only: accept any agent without a token. Never in production.
    allow_unauthenticated_agents: bool = False
    # A single shared admin/API token for operator endpoints (hashed); issue 4 replaces this with roles.
    api_token_sha256: Sha256Hex | None = None

    @classmethod
    def load(cls, path: Path | None = None, **overrides: object) -> CollectorSettings:
        return load_settings(cls, path, **overrides)


def hash_token(token: str | SecretStr) -> str:
    raw = token.get_secret_value() if isinstance(token, SecretStr) else token
    return hashlib.sha256(raw.encode()).hexdigest()
