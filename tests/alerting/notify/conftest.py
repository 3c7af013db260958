from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from alerting.clock import FakeClock
from alerting.notify.model import ContactMethod, IncidentInfo, Notification

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def incident_info(**overrides: object) -> IncidentInfo:
    values: dict[str, object] = {
        "id": "inc-1",
        "number": "INC-2026-000123",
        "title": "HIS 数据库磁盘 95%",
        "severity": "P1",
        "category": "system_failure",
        "assets": ("his-db-01",),
        "site": "总院",
        "system": "HIS",
        "since": T0,
        "summary": "/data 95% used",
        "plan_url": "https://wiki.hosp/plans/his-db",
    }
    values.update(overrides)
    return IncidentInfo(**values)  # type: ignore[arg-type]


def notification(contact_kind: str, address: str, **overrides: object) -> Notification:
    values: dict[str, object] = {
        "kind": "page",
        "person_id": "zhangsan",
        "person_name": "张三",
        "contact": ContactMethod(kind=contact_kind, address=address),
        "incident": incident_info(),
        "reason": "P1 system_failure: level 1 of default",
        "language": "zh",
        "ack_url": "https://oncall.hosp/links/ack-token",
        "resolve_url": "https://oncall.hosp/links/resolve-token",
    }
    values.update(overrides)
    return Notification(**values)  # type: ignore[arg-type]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
