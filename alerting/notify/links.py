"""Signed, per-person, single-use, expiring acknowledge/resolve links: the way back from one-way robots.

A token is ``base64url(claims JSON) + "." + base64url(HMAC-SHA256(secret, "wardwatch-link-v1." + claims))``;
the claims are the incident id, the person, the action, the expiry (unix seconds) and a random nonce, so
every field is covered by the signature and no two links are alike. Verification checks the signature
(constant time) and the expiry; single use is the ledger's job (``OutboxLinkLedger``): the first POST wins.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from alerting.model import OutboxStatus
from alerting.store import IncidentStore

LinkAction = Literal["ack", "resolve"]
ACTIONS: tuple[LinkAction, ...] = ("ack", "resolve")
_DOMAIN = b"wardwatch-link-v1."


class LinkError(Exception):
    """A link that must be refused; ``reason`` is ``malformed``, ``tampered``, ``expired`` or ``used``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaims:
    incident_id: str
    person_id: str
    action: LinkAction
    expires_at: int
    nonce: str

    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, secret: str, *, base_url: str, ttl_seconds: float) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret needs at least 16 characters")
        self._key = secret.encode()
        self.base_url = base_url.rstrip("/")
        self.ttl_seconds = ttl_seconds

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, _DOMAIN + body.encode(), hashlib.sha256).digest())

    def sign(
        self, incident_id: str, person_id: str, action: LinkAction, *, now: datetime, nonce: str | None = None
    ) -> str:
        if action not in ACTIONS:
            raise ValueError(f"unknown link action {action!r}")
        claims = {
            "i": incident_id,
            "p": person_id,
            "a": action,
            "e": int(now.timestamp() + self.ttl_seconds),
            "n": nonce or secrets.token_urlsafe(12),
        }
        body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        return f"{body}.{self._mac(body)}"

    def url(self, token: str) -> str:
        return f"{self.base_url}/links/{token}"

    def link(self, incident_id: str, person_id: str, action: LinkAction, *, now: datetime) -> str:
        return self.url(self.sign(incident_id, person_id, action, now=now))

    def verify(self, token: str, *, now: datetime) -> LinkClaims:
        """The claims of a genuine, unexpired token; ``LinkError`` otherwise (use is checked by the ledger)."""
        body, dot, mac = token.partition(".")
        if not dot or not body or not mac:
            raise LinkError("malformed", "this is not a wardwatch link")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise LinkError("tampered", "this link's signature does not match: it was altered or is not ours")
        try:
            raw = json.loads(_unb64(body))
            claims = LinkClaims(
                incident_id=str(raw["i"]),
                person_id=str(raw["p"]),
                action=raw["a"],
                expires_at=int(raw["e"]),
                nonce=str(raw["n"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as err:
            raise LinkError("malformed", "this link cannot be read") from err
        if claims.action not in ACTIONS:
            raise LinkError("malformed", "this link names no known action")
        if now.timestamp() >= claims.expires_at:
            raise LinkError("expired", f"this link expired at {claims.expires().isoformat()}")
        return claims


NEVER = datetime(9999, 1, 1, tzinfo=UTC)
LEDGER_CHANNEL = "link-used"


class OutboxLinkLedger:
    """Remembers used links in the store, atomically: the first ``consume`` of a nonce wins.

    Adapter: the store has no "use once" table, so a used link is an outbox row keyed ``link-used:<nonce>``
    (unique key = compare-and-set across collectors), on channel ``link-used``, due never (no worker claims it).
    A store method ``consume_once(key)`` would replace this."""

    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    @staticmethod
    def key(claims: LinkClaims) -> str:
        return f"link-used:{claims.nonce}"

    async def consume(self, claims: LinkClaims, *, now: datetime) -> bool:
        """True the first time for this link, False ever after."""
        _, created = await self.store.enqueue_notification(
            self.key(claims),
            channel=LEDGER_CHANNEL,
            target=f"{claims.person_id}/{claims.action}",
            payload={"used_at": now.isoformat(), "action": claims.action, "person": claims.person_id},
            due_at=NEVER,
            now=now,
            incident_id=claims.incident_id,
        )
        return created

    async def is_used(self, claims: LinkClaims) -> bool:
        rows = await self.store.outbox(
            status=OutboxStatus.PENDING, incident_id=claims.incident_id, limit=10_000
        )
        return any(r.key == self.key(claims) for r in rows)
