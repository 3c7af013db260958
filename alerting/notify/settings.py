"""``settings.notify``: channels, the public base URL and secret for acknowledge/resolve links, and the
outbox's retry policy. Environment: ``WARDWATCH_NOTIFY__LINK_SECRET=...``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from alerting.notify.channels import ChannelConfig
from alerting.notify.model import Language


class OutboxPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts_per_method: Annotated[int, Field(ge=1, le=20)] = 3
    """Tries through one contact method before failing over to the next (a permanent error fails over at once)."""
    backoff_initial_seconds: Annotated[float, Field(gt=0)] = 10.0
    backoff_factor: Annotated[float, Field(ge=1)] = 2.0
    backoff_max_seconds: Annotated[float, Field(gt=0)] = 300.0
    lease_seconds: Annotated[float, Field(gt=0)] = 60.0
    batch: Annotated[int, Field(ge=1, le=1000)] = 20
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 1.0

    def backoff_seconds(self, attempt: int) -> float:
        """The wait after failed try number ``attempt`` (1-based): initial, initial*factor, ... capped."""
        return float(
            min(self.backoff_max_seconds, self.backoff_initial_seconds * self.backoff_factor ** (attempt - 1))
        )


class NotifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    public_base_url: str = "http://127.0.0.1:9400"
    """How phones reach the collector, for acknowledge/resolve links (e.g. https://oncall.hospital.local)."""
    link_secret: SecretStr | None = None
    """The HMAC key for links; without it messages carry no links."""
    link_ttl_seconds: Annotated[float, Field(gt=0)] = 24 * 3600.0
    language: Language = "zh"
    channels: list[ChannelConfig] = []
    outbox: OutboxPolicy = OutboxPolicy()

    @field_validator("public_base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("public_base_url starts with http:// or https://")
        return v.rstrip("/")

    @field_validator("link_secret")
    @classmethod
    def _long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("link_secret needs at least 16 characters")
        return v

    @field_validator("channels")
    @classmethod
    def _one_per_kind(cls, v: list[ChannelConfig]) -> list[ChannelConfig]:
        kinds = [c.kind for c in v]
        twice = sorted({k for k in kinds if kinds.count(k) > 1})
        if twice:
            raise ValueError(f"one channel per kind; configured more than once: {', '.join(twice)}")
        return v
