"""Exponential backoff with full jitter."""

from __future__ import annotations

import random


def backoff_seconds(attempt: int, *, base_seconds: float, max_seconds: float, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1, 2, ...): uniform in [0, min(max, base * 2**(attempt-1))]."""
    ceiling = min(max_seconds, base_seconds * (2 ** max(0, attempt - 1)))
    return rng.uniform(0.0, ceiling)
