"""Fixtures shared by the alerting tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

PG_DSN = os.environ.get("WARDWATCH_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgres"])
async def store_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, str | None]]:
    """Where a store lives, once per engine: (SQLite path, None) or (PostgreSQL DSN, a throwaway schema)."""
    if request.param == "sqlite":
        yield str(tmp_path / "wardwatch.db"), None
        return
    schema = f"ww_test_{uuid.uuid4().hex[:12]}"
    yield PG_DSN, schema
    conn = await asyncpg.connect(PG_DSN, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
