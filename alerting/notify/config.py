"""What every channel config shares. Each channel's own model lives in its module, discriminated on ``kind``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class ChannelConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
