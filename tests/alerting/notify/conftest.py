from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from alerting.clock import FakeClock
from alerting.notify.model import ContactMethod, IncidentInfo, Notification
from alerting.store import IncidentStore, open_store
from alerting.store.postgres import redact_dsn

PG_DSN = os.environ.get("WARDWATCH_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IncidentStore]:
    """A real store: a SQLite file in tmp_path, or a fresh PostgreSQL schema (dropped afterwards) on the
    server at ``WARDWATCH_TEST_PG_DSN``; as in the store's contract tests, no server is a failure, not a skip."""
    if request.param == "sqlite":
        s = await open_store(tmp_path / "wardwatch.db")
        yield s
        await s.close()
        return
    try:
        admin = await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as err:
        pytest.fail(
            f"PostgreSQL at {redact_dsn(PG_DSN)} does not answer ({type(err).__name__})", pytrace=False
        )
    schema = f"ww_notify_{uuid.uuid4().hex[:12]}"
    try:
        s = await open_store(PG_DSN, schema=schema)
        yield s
        await s.close()
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


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
