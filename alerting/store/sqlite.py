"""The SQLite engine (the default): one file in the data directory, WAL, ``synchronous=FULL``.

One connection per store object; an ``asyncio.Lock`` keeps this object's coroutines from interleaving inside a
transaction, and ``BEGIN IMMEDIATE`` (with a busy timeout) makes writers on other connections or processes take
turns on the file.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiosqlite

from alerting.store import migrations
from alerting.store.engine import Row
from alerting.store.errors import StoreError
from alerting.store.sqlstore import SqlIncidentStore
from alerting.store.transitions import format_time

DEFAULT_FILENAME = "wardwatch.db"
BUSY_TIMEOUT_MS = 10_000
_PLACEHOLDER = re.compile(r"\$(\d+)")


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


class _SqliteTx:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._db.execute(_PLACEHOLDER.sub(r"?\1", sql), [_encode(a) for a in args]) as cur:
            return list(await cur.fetchall())  # type: ignore[arg-type]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._db.execute(_PLACEHOLDER.sub(r"?\1", sql), [_encode(a) for a in args]) as cur:
            return await cur.fetchone()  # type: ignore[return-value]

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._db.execute(_PLACEHOLDER.sub(r"?\1", sql), [_encode(a) for a in args]) as cur:
            return cur.rowcount


class SqliteEngine:
    name = "sqlite"
    for_update = ""
    skip_locked = ""
    lock_audit: str | None = None  # BEGIN IMMEDIATE already serializes every writer
    json_text = "json_extract({column}, '$.\"{key}\"')"  # not ->>: SQLite before 3.38 lacks it

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._unsettled = False
        self.path = path

    @classmethod
    async def connect(cls, path: Path) -> Self:
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open SQLite database {path}: {err}") from err
        db.row_factory = sqlite3.Row
        engine = cls(db, path)
        try:
            for pragma in (
                f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = FULL",
                "PRAGMA foreign_keys = ON",
            ):
                await db.execute(pragma)
            await engine.migrate()
        except BaseException:
            await db.close()
            raise
        return engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        async with self._lock:
            await self._settle()
            self._unsettled = True  # until BEGIN ... COMMIT/ROLLBACK has run to the end under our eyes
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                self._unsettled = False
                raise StoreError(f"SQLite {self.path}: cannot begin a write transaction: {err}") from err
            try:
                yield _SqliteTx(self._db)
            except BaseException as err:
                await self._db.execute("ROLLBACK")
                self._unsettled = False
                if isinstance(err, sqlite3.Error):
                    raise StoreError(f"SQLite {self.path}: {err}") from err
                raise
            try:
                await self._db.execute("COMMIT")
            except sqlite3.Error as err:
                await self._db.execute("ROLLBACK")
                self._unsettled = False
                raise StoreError(f"SQLite {self.path}: commit failed: {err}") from err
            self._unsettled = False

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_SqliteTx]:
        async with self._lock:
            await self._settle()
            self._unsettled = True
            await self._db.execute("BEGIN")  # one snapshot for multi-statement reads
            try:
                yield _SqliteTx(self._db)
            except sqlite3.Error as err:
                raise StoreError(f"SQLite {self.path}: {err}") from err
            finally:
                await self._db.execute("COMMIT")
                self._unsettled = False

    async def _settle(self) -> None:
        """After a task was cancelled inside a transaction, its BEGIN, COMMIT or ROLLBACK may still be queued on
        aiosqlite's thread (cancelling the await does not unqueue it). Flush the queue with a no-op, then roll
        back whatever transaction is left open, before starting anew."""
        if not self._unsettled:
            return
        await self._db.execute("SELECT 1")
        if self._db.in_transaction:
            await self._db.execute("ROLLBACK")
        self._unsettled = False

    async def migrate(self) -> None:
        async with self.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            row = await tx.fetchrow("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
            current = int(row["v"]) if row else 0
            for mig in migrations.load("sqlite"):
                if mig.version <= current:
                    continue
                for statement in _statements(mig.sql):
                    await tx.execute(statement)
                await tx.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    datetime.now(UTC),
                )

    async def close(self) -> None:
        await self._db.close()


def _prepare_path(p: Path) -> Path:
    if p.is_dir():
        p = p / DEFAULT_FILENAME
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _statements(script: str) -> list[str]:
    """Split a script into statements (triggers contain ``;``), so it runs inside our transaction:
    ``executescript`` would commit first."""
    out: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {current[:80]!r}")
    return out


class SqliteIncidentStore(SqlIncidentStore):
    @classmethod
    async def open(cls, path: str | Path) -> SqliteIncidentStore:
        """Open (creating and migrating) the store at ``path``; a directory gets ``wardwatch.db`` inside it."""
        p = await asyncio.to_thread(_prepare_path, Path(path))
        return cls(await SqliteEngine.connect(p))

    def __repr__(self) -> str:
        engine = self._engine
        return f"SqliteIncidentStore({getattr(engine, 'path', '?')})"
