"""The ``snmp:`` section of the collector settings (environment ``WARDWATCH_SNMP__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class SnmpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    # The device inventory (YAML); see docs/snmp.md and deploy/examples/inventory.yaml.
    inventory_file: Path | None = None
    # Extra profile folders (YAML files), searched before the shipped profiles.
    profile_dirs: list[Path] = []
    # Polls in flight at once, across all devices.
    max_concurrent_polls: Annotated[int, Field(ge=1, le=10_000)] = 64
    default_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    default_retries: Annotated[int, Field(ge=0, le=10)] = 1
    default_interval_seconds: Annotated[float, Field(ge=1)] = 60.0
    max_repetitions: Annotated[int, Field(ge=1, le=200)] = 25
    traps_enabled: bool = True
    trap_host: str = "127.0.0.1"
    trap_port: Annotated[int, Field(ge=0, le=65535)] = 1162  # 162 in deployment (needs privileges)
    trap_max_datagram_bytes: Annotated[int, Field(ge=484, le=65535)] = 8192
