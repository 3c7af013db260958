"""The small seam between the store's logic (``sqlstore.py``) and a database driver.

An ``Engine`` hands out transactions; a ``Tx`` runs SQL written with PostgreSQL's ``$1`` placeholders (the
SQLite engine rewrites them to ``?1``) and returns rows addressable by column name. Clauses that only one engine
has are spelled as attributes (``for_update``, ``skip_locked``, ``lock_audit``) that the other leaves empty, and
expressions the two spell differently as format strings (``json_text``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from alerting.store.transitions import parse_time

Row = Mapping[str, Any]


class Tx(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def execute(self, sql: str, *args: Any) -> int:
        """Rows affected."""
        ...


class Engine(Protocol):
    name: str
    for_update: str  # "FOR UPDATE" or ""
    skip_locked: str  # "FOR UPDATE SKIP LOCKED" or ""
    lock_audit: str | None  # a statement that serializes audit appends, or None when transactions already do
    # the text of one key of a JSON object column, NULL when absent: json_text.format(column=..., key=...)
    # (key: a fixed identifier written in the code, never a value from outside)
    json_text: str

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction: committed on normal exit, rolled back on an exception."""
        ...

    def read(self) -> AbstractAsyncContextManager[Tx]: ...
    async def close(self) -> None: ...


def decode_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return parse_time(value)


def decode_time_or_none(value: Any) -> datetime | None:
    return None if value is None else decode_time(value)


def decode_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value
