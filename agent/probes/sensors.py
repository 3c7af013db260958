"""Temperatures, where the platform and psutil offer them."""

from __future__ import annotations

import math

import psutil

from agent.wire import TemperatureSample


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def sample_temperatures() -> list[TemperatureSample]:
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return []
    samples = []
    for group, entries in sorted(read().items()):
        for i, entry in enumerate(entries):
            celsius = _finite(entry.current)
            if celsius is None:
                continue
            samples.append(
                TemperatureSample(
                    sensor=group,
                    label=entry.label or str(i),
                    celsius=celsius,
                    high_celsius=_finite(entry.high),
                    critical_celsius=_finite(entry.critical),
                )
            )
    return samples
