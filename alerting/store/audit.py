"""The append-only audit log, hash-chained: each row carries sha256(prev_hash + row)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alerting.model import AuditCheck, AuditEntry
from alerting.store.engine import Engine, Tx, decode_json, decode_time
from alerting.store.rows import audit_entry_from_row
from alerting.store.transitions import GENESIS_HASH, audit_hash, canonical_json, require_utc


class AuditMixin:
    _engine: Engine

    async def append_audit(
        self, *, actor: str, action: str, target: str, details: Mapping[str, Any], now: datetime
    ) -> AuditEntry:
        now = require_utc(now)
        async with self._engine.transaction() as tx:
            return await self._append_audit(
                tx, actor=actor, action=action, target=target, details=details, now=now
            )

    async def _append_audit(
        self, tx: Tx, *, actor: str, action: str, target: str, details: Mapping[str, Any], now: datetime
    ) -> AuditEntry:
        if self._engine.lock_audit:
            await tx.execute(self._engine.lock_audit)
        last = await tx.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        seq = 1 if last is None else int(last["seq"]) + 1
        prev = GENESIS_HASH if last is None else str(last["hash"])
        details_json = canonical_json(details)
        digest = audit_hash(
            prev, seq=seq, at=now, actor=actor, action=action, target=target, details_json=details_json
        )
        await tx.execute(
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            seq,
            now,
            actor,
            action,
            target,
            details_json,
            prev,
            digest,
        )
        return AuditEntry(
            seq=seq,
            at=now,
            actor=actor,
            action=action,
            target=target,
            details=decode_json(details_json),
            prev_hash=prev,
            hash=digest,
        )

    async def audit_log(self, *, limit: int = 100, after_seq: int = 0) -> list[AuditEntry]:
        async with self._engine.read() as tx:
            rows = await tx.fetch(
                "SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after_seq, limit
            )
        return [audit_entry_from_row(r) for r in rows]

    async def verify_audit_chain(self) -> AuditCheck:
        """Walk the whole chain: sequence numbers 1, 2, 3, ..., each prev_hash the hash before, each hash right."""
        prev, expected_seq, rows = GENESIS_HASH, 1, 0
        page = 1000
        while True:
            async with self._engine.read() as tx:
                batch = await tx.fetch(
                    "SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2", expected_seq, page
                )
            for r in batch:
                seq = int(r["seq"])
                if seq != expected_seq:
                    return AuditCheck(False, rows, expected_seq, f"row {expected_seq} is missing")
                if r["prev_hash"] != prev:
                    return AuditCheck(False, rows, seq, f"row {seq} does not follow row {seq - 1}")
                digest = audit_hash(
                    prev,
                    seq=seq,
                    at=decode_time(r["at"]),
                    actor=r["actor"],
                    action=r["action"],
                    target=r["target"],
                    details_json=r["details"],
                )
                if digest != r["hash"]:
                    return AuditCheck(False, rows, seq, f"row {seq} was altered (hash mismatch)")
                prev, expected_seq, rows = digest, expected_seq + 1, rows + 1
            if len(batch) < page:
                return AuditCheck(True, rows)
