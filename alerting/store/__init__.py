"""The incident store: incidents, timelines, maintenance windows, the notification outbox and the audit log.

``await open_store("var/data")`` (SQLite, the default) or ``await open_store("postgresql://...")``.
"""

from __future__ import annotations

from pathlib import Path

from alerting.store.errors import (
    ClaimLost,
    IncidentNotFound,
    InvalidTransition,
    MaintenanceWindowNotFound,
    NotFound,
    OutboxItemNotFound,
    StoreError,
    VersionConflict,
)
from alerting.store.protocol import IncidentGroup, IncidentStore, IncidentTimes

__all__ = [
    "ClaimLost",
    "IncidentGroup",
    "IncidentNotFound",
    "IncidentStore",
    "IncidentTimes",
    "InvalidTransition",
    "MaintenanceWindowNotFound",
    "NotFound",
    "OutboxItemNotFound",
    "StoreError",
    "VersionConflict",
    "open_store",
]


async def open_store(dsn_or_path: str | Path, *, schema: str | None = None) -> IncidentStore:
    """Open and migrate a store.

    - ``postgresql://...`` or ``postgres://...``: PostgreSQL, tables in ``schema`` (default ``public``);
    - ``sqlite:///path/to/file.db``, a file path, or a data directory (gets ``wardwatch.db``): SQLite.
    """
    text = str(dsn_or_path)
    if text.startswith(("postgresql://", "postgres://")):
        from alerting.store.postgres import PostgresIncidentStore

        return await PostgresIncidentStore.open(text, schema=schema or "public")
    if schema is not None:
        raise StoreError("schema= applies to PostgreSQL only")
    from alerting.store.sqlite import SqliteIncidentStore

    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://")
        if not text:
            raise StoreError("sqlite:// needs a path, e.g. sqlite:///var/lib/wardwatch/wardwatch.db")
    return await SqliteIncidentStore.open(text)
