"""The PostgreSQL engine: an asyncpg pool, tables in one schema (``public`` unless told otherwise).

Several collectors may share one database: row locks (``SELECT ... FOR UPDATE``), ``FOR UPDATE SKIP LOCKED`` for
outbox claims, a table lock for the audit chain and an advisory lock around migrations keep them apart.
The DSN may carry a password: it is never put in an error message or a repr (see ``redact_dsn``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from alerting.store import migrations
from alerting.store.engine import Row
from alerting.store.errors import StoreError
from alerting.store.sqlstore import SqlIncidentStore

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_LOCK = 0x77617264  # "ward": one advisory lock id for schema migrations
CONNECT_TIMEOUT_SECONDS = 10.0
COMMAND_TIMEOUT_SECONDS = 30.0


def redact_dsn(dsn: str) -> str:
    """The DSN without its password (``postgresql://user:***@host/db``); query strings are dropped too."""
    try:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "postgresql://(unparseable DSN)"


class _PgTx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._conn.fetchrow(sql, *args)
        return row

    async def execute(self, sql: str, *args: Any) -> int:
        status: str = await self._conn.execute(sql, *args)
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("jsonb", "json"):
        await conn.set_type_codec(
            kind,
            schema="pg_catalog",
            encoder=lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")),
            decoder=json.loads,
        )


class PostgresEngine:
    name = "postgres"
    for_update = "FOR UPDATE"
    skip_locked = "FOR UPDATE SKIP LOCKED"
    # SHARE ROW EXCLUSIVE conflicts with itself: audit appends take turns, readers are not blocked.
    lock_audit: str | None = "LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"
    json_text = "({column} ->> '{key}')"

    def __init__(self, pool: asyncpg.Pool, where: str, schema: str) -> None:
        self._pool = pool
        self.where = where  # the redacted DSN
        self.schema = schema

    @classmethod
    async def connect(
        cls, dsn: str, *, schema: str = "public", min_size: int = 1, max_size: int = 10
    ) -> Self:
        where = redact_dsn(dsn)
        if not _SCHEMA_NAME.match(schema):
            raise StoreError(f"bad PostgreSQL schema name {schema!r}: use lower-case letters, digits and _")
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT_SECONDS,
                command_timeout=COMMAND_TIMEOUT_SECONDS,
                server_settings={"search_path": schema, "application_name": "wardwatch"},
                init=_init_connection,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            # the driver's message names host and port, never the password; the DSN we show is redacted
            raise StoreError(
                f"cannot connect to PostgreSQL at {where}: {type(err).__name__}: {err}"
            ) from None
        except ValueError:  # the driver's DSN parser (a port that is not a number, an unknown sslmode, ...)
            raise StoreError(f"not a valid PostgreSQL DSN: {where}") from None
        engine = cls(pool, where, schema)
        try:
            await engine.migrate()
        except BaseException:
            await pool.close()
            raise
        return engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield _PgTx(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
            raise StoreError(f"PostgreSQL {self.where}: {type(err).__name__}: {err}") from err

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_PgTx]:
        try:
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield _PgTx(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
            raise StoreError(f"PostgreSQL {self.where}: {type(err).__name__}: {err}") from err

    async def migrate(self) -> None:
        async with self.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)"
            )
            row = await tx.fetchrow("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
            current = int(row["v"]) if row else 0
            for mig in migrations.load("postgres"):
                if mig.version <= current:
                    continue
                await tx.execute(mig.sql)
                await tx.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    datetime.now(UTC),
                )

    async def close(self) -> None:
        await self._pool.close()


class PostgresIncidentStore(SqlIncidentStore):
    @classmethod
    async def open(
        cls, dsn: str, *, schema: str = "public", max_connections: int = 10
    ) -> PostgresIncidentStore:
        """Connect, then migrate ``schema`` (created if missing) to the newest version."""
        return cls(await PostgresEngine.connect(dsn, schema=schema, max_size=max_connections))

    def __repr__(self) -> str:
        engine = self._engine
        return (
            f"PostgresIncidentStore({getattr(engine, 'where', '?')}, schema={getattr(engine, 'schema', '?')})"
        )
