"""Temperatures, where the platform and psutil offer them."""

from __future__ import annotations

import math
from typing import Any

import psutil

from agent.report import fits, without_none


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def sample_temperatures() -> list[dict[str, Any]]:
    """``wire.TemperatureSample`` per sensor reading."""
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return []
    samples = []
    for group, entries in sorted(read().items()):
        if not fits(group):
            continue
        for i, entry in enumerate(entries):
            celsius = _finite(entry.current)
            label = entry.label or str(i)
            if celsius is None or not fits(label):
                continue
            samples.append(
                without_none(
                    sensor=group,
                    label=label,
                    celsius=celsius,
                    high_celsius=_finite(entry.high),
                    critical_celsius=_finite(entry.critical),
                )
            )
    return samples
