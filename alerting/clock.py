"""The one source of time. Everything time-dependent takes a Clock (or a ``now``) so tests move time
instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Tz-aware UTC now."""
        ...

    def time(self) -> float:
        """Unix seconds, the same instant as ``now()``."""
        ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that moves only when told. ``sleep`` advances it and yields once to the loop."""

    def __init__(self, start: datetime | float | None = None) -> None:
        if start is None:
            start = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("FakeClock needs a tz-aware start")
            start = start.timestamp()
        self._t = float(start)
        self._mono = 1000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    def time(self) -> float:
        return self._t

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float | timedelta) -> None:
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if seconds < 0:
            raise ValueError("time does not go back")
        self._t += seconds
        self._mono += seconds

    def set(self, when: datetime) -> None:
        self.advance(when.timestamp() - self._t)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
