"""The SNMP client the poller uses: GET and GETBULK/GETNEXT column walks, numeric OIDs only.

Requests go on the wire through ``wire.py`` (v2c by ``ber.py``, v3 USM by ``usm.py``): pysnmp's
pyasn1 decoding cost ~10× the CPU of prometheus-snmp-exporter per poll (docs/benchmarks.md). The
pysnmp path is kept (``fast_v2c=False`` / ``fast_v3=False``) for comparison tests and as a fallback;
it talks to pysnmp's command generators with raw varbinds, skipping the high-level API's MIB
resolution, and ``_raise_for_indication`` turns pysnmp's error values into this package's exceptions.
Both paths raise the same ``errors.py`` exceptions; messages name the target, never a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyasn1.type import univ
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD
from pysnmp.proto import errind, rfc1902, rfc1905

from collector.snmp import ber
from collector.snmp.errors import (
    V2C_SILENCE,
    SnmpAuthError,
    SnmpBadCommunity,
    SnmpError,
    SnmpErrorStatus,
    SnmpNoSuchName,
    SnmpProtocolError,
    SnmpTimeout,
    SnmpUnknownUser,
    SnmpUnreachable,
    no_answer,
    status_error,
)
from collector.snmp.inventory import AuthProtocol, Device, PrivProtocol, SecurityLevel, V3Credentials
from collector.snmp.wire import Requester, port_unreachable

__all__ = [  # the errors live in errors.py; callers may import them from here
    "SnmpAuthError",
    "SnmpBadCommunity",
    "SnmpClient",
    "SnmpError",
    "SnmpErrorStatus",
    "SnmpNoSuchName",
    "SnmpProtocolError",
    "SnmpTimeout",
    "SnmpUnknownUser",
    "SnmpUnreachable",
    "Target",
    "auth_for",
    "community_of",
    "to_value",
]

Value = int | str
Oid = tuple[int, ...]

_AUTH = {
    AuthProtocol.SHA: usmHMACSHAAuthProtocol,
    AuthProtocol.SHA224: usmHMAC128SHA224AuthProtocol,
    AuthProtocol.SHA256: usmHMAC192SHA256AuthProtocol,
    AuthProtocol.SHA384: usmHMAC256SHA384AuthProtocol,
    AuthProtocol.SHA512: usmHMAC384SHA512AuthProtocol,
}
_PRIV = {
    PrivProtocol.AES128: usmAesCfb128Protocol,
    # net-snmp's AES-192/256 extend short keys as draft-blumenthal-aes-usm does; pysnmp's plain
    # usmAesCfb192/256Protocol are the Reeder (Cisco) variant and fail against net-snmp when the
    # auth hash is shorter than the AES key (e.g. SHA-1 + AES-256).
    PrivProtocol.AES192: usmAesBlumenthalCfb192Protocol,
    PrivProtocol.AES256: usmAesBlumenthalCfb256Protocol,
}


_INDICATION_ERRORS: dict[type, tuple[type[SnmpError], str]] = {
    errind.RequestTimedOut: (SnmpTimeout, "no answer"),
    errind.WrongDigest: (SnmpAuthError, "authentication failed (wrong v3 auth password or protocol)"),
    errind.AuthenticationFailure: (SnmpAuthError, "authentication failed"),
    errind.UnknownUserName: (SnmpUnknownUser, "unknown v3 user"),
    errind.UnknownSecurityName: (SnmpUnknownUser, "unknown security name"),
    errind.DecryptionError: (SnmpAuthError, "decryption failed (wrong v3 privacy password or protocol)"),
    errind.UnsupportedSecurityLevel: (SnmpAuthError, "security level not supported for this user"),
    errind.NotInTimeWindow: (SnmpProtocolError, "not in time window"),
    errind.UnknownEngineID: (SnmpProtocolError, "unknown engine ID"),
}


@dataclass(frozen=True)
class Target:
    """Where and how to reach one device. ``auth`` holds secrets: never format it into text."""

    name: str
    host: str
    port: int
    auth: CommunityData | UsmUserData
    timeout_seconds: float = 2.0
    retries: int = 1
    use_getbulk: bool = True
    max_repetitions: int = 25
    community: bytes | None = None  # v2c: sent by the wire path (ber.py); None for v3
    v3: V3Credentials | None = None  # v3: used by the wire path (usm.py)

    def __repr__(self) -> str:  # keep credentials out of logs and tracebacks
        return f"Target({self.name!r}, {self.host}:{self.port})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def auth_for(device: Device) -> CommunityData | UsmUserData:
    if device.version == "2c":
        assert device.community is not None
        return CommunityData(device.community.get_secret_value(), mpModel=1)  # noqa: S508 -- v2c is what most hospital gear speaks
    v3 = device.v3
    assert v3 is not None
    auth_key = v3.auth_password.get_secret_value() if v3.auth_password else None
    priv_key = v3.priv_password.get_secret_value() if v3.priv_password else None
    if v3.security_level is SecurityLevel.NO_AUTH_NO_PRIV:
        return UsmUserData(v3.user, authProtocol=usmNoAuthProtocol, privProtocol=usmNoPrivProtocol)
    if v3.security_level is SecurityLevel.AUTH_NO_PRIV:
        return UsmUserData(
            v3.user, auth_key, authProtocol=_AUTH[v3.auth_protocol], privProtocol=usmNoPrivProtocol
        )
    return UsmUserData(
        v3.user,
        auth_key,
        priv_key,
        authProtocol=_AUTH[v3.auth_protocol],
        privProtocol=_PRIV[v3.priv_protocol],
    )


def to_value(value: Any) -> Value | None:
    """A pysnmp value as int or text; None for noSuchObject/noSuchInstance/endOfMibView/NULL."""
    if isinstance(value, univ.Null):  # also noSuchObject, noSuchInstance, endOfMibView
        return None
    if isinstance(value, univ.Integer):  # Integer32, Counter32/64, Gauge32, TimeTicks, Unsigned32
        return int(value)
    if isinstance(value, rfc1902.IpAddress):
        return value.prettyPrint()
    if isinstance(value, univ.OctetString):
        raw = bytes(value)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + raw.hex()
        if text.isprintable() or not text:
            return text
        stripped = text.rstrip("\x00")
        return stripped if stripped.isprintable() else "0x" + raw.hex()
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    return None


def community_of(device: Device) -> bytes | None:
    return device.community.get_secret_value().encode() if device.community is not None else None


class SnmpClient:
    """One per process: wraps the ``SnmpEngine`` (made in the component's cleanup context).

    v2c and v3 requests go through ``wire.py`` (``ber.py`` + ``usm.py``) on one asyncio UDP
    socket; ``fast_v2c=False`` / ``fast_v3=False`` send them through pysnmp instead (kept for
    comparison tests and as a fallback). All return ``(oid tuple, int | str | None | END_OF_MIB)``.
    """

    def __init__(
        self, engine: SnmpEngine | None = None, *, fast_v2c: bool = True, fast_v3: bool = True
    ) -> None:
        self.engine = engine or SnmpEngine()
        self.fast_v2c = fast_v2c
        self._transports: dict[tuple[str, int, float, int], UdpTransportTarget] = {}
        self.fast_v3 = fast_v3
        self._wire = Requester()

    def close(self) -> None:
        self._wire.close()
        self.engine.close_dispatcher()

    async def request(self, target: Target, kind: str, oids: list[Oid]) -> list[tuple[Oid, ber.Value]]:
        """One GET/GETNEXT/GETBULK ("get", "next", "bulk"), varbinds normalised."""
        if self.fast_v2c and target.community is not None:
            return await self._wire.request_v2c(target, kind, oids)
        if self.fast_v3 and target.v3 is not None:
            return await self._wire.request_v3(target, kind, oids)
        vbs = await self._request(target, kind, [(univ.ObjectIdentifier(o), univ.Null("")) for o in oids])
        return [
            (tuple(oid), ber.END_OF_MIB if isinstance(value, rfc1905.EndOfMibView) else to_value(value))
            for oid, value in vbs
        ]

    async def _transport(self, target: Target) -> UdpTransportTarget:
        key = (target.host, target.port, target.timeout_seconds, target.retries)
        transport = self._transports.get(key)
        if transport is None:
            transport = await UdpTransportTarget.create(
                (target.host, target.port), timeout=target.timeout_seconds, retries=target.retries
            )
            self._transports[key] = transport
        return transport

    async def _request(
        self, target: Target, kind: str, varbinds: list[tuple[univ.ObjectIdentifier, Any]]
    ) -> list[tuple[Any, Any]]:
        transport = await self._transport(target)
        addr_name, _ = LCD.configure(self.engine, target.auth, transport, b"")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, Any, Any, Any]] = loop.create_future()

        def callback(
            engine: Any, handle: Any, indication: Any, status: Any, index: Any, vbs: Any, ctx: Any
        ) -> None:
            if not future.done():
                future.set_result((indication, status, index, vbs))

        if kind == "get":
            cmdgen.GetCommandGenerator().send_varbinds(self.engine, addr_name, None, b"", varbinds, callback)
        elif kind == "next":
            cmdgen.NextCommandGenerator().send_varbinds(self.engine, addr_name, None, b"", varbinds, callback)
        else:
            cmdgen.BulkCommandGenerator().send_varbinds(
                self.engine, addr_name, None, b"", 0, target.max_repetitions, varbinds, callback
            )
        # pysnmp enforces timeout × retries itself; this outer bound is a safety net only.
        deadline = target.timeout_seconds * (target.retries + 1) + 5
        try:
            indication, status, index, vbs = await asyncio.wait_for(future, deadline)
        except TimeoutError:
            hint = f" ({V2C_SILENCE})" if isinstance(target.auth, CommunityData) else ""
            raise SnmpTimeout(
                f"{target.name} ({target.where}): no answer{hint} within {deadline:.0f}s"
            ) from None
        if indication:
            await self._raise_for_indication(target, indication)
        if status and int(status) != 0:
            name = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
            raise status_error(f"{target.name} ({target.where})", name, int(index))
        return list(vbs)

    async def _raise_for_indication(self, target: Target, indication: Any) -> None:
        for cls, (error, text) in _INDICATION_ERRORS.items():
            if isinstance(indication, cls):
                if error is SnmpTimeout and await port_unreachable(target.host, target.port):
                    raise SnmpUnreachable(
                        f"{target.name} ({target.where}): port unreachable (nothing listens there)"
                    )
                if error is SnmpTimeout:
                    hint = V2C_SILENCE if isinstance(target.auth, CommunityData) else ""
                    text = no_answer(target.retries + 1, target.timeout_seconds, hint)
                raise error(f"{target.name} ({target.where}): {text}")
        raise SnmpProtocolError(f"{target.name} ({target.where}): {type(indication).__name__}")

    async def get(self, target: Target, oids: Sequence[str]) -> dict[str, Value]:
        """One GET for all ``oids``; missing ones (noSuchObject/Instance) are left out."""
        out: dict[str, Value] = {}
        if not oids:
            return out
        vbs = await self.request(target, "get", [tuple(int(x) for x in o.split(".")) for o in oids])
        for oid, value in vbs:
            if value is not None and value is not ber.END_OF_MIB:
                out[".".join(map(str, oid))] = value  # type: ignore[assignment]
        return out

    async def walk(
        self, target: Target, columns: Iterable[str], *, max_requests: int = 10_000
    ) -> dict[str, dict[str, Value]]:
        """Walk table columns together, by GETBULK (or GETNEXT when ``use_getbulk`` is off).

        Returns ``{column OID: {row index: value}}``. A column ends when the agent answers outside
        it, with endOfMibView, or with an OID that does not increase (a broken agent).
        """
        prefixes = {c: tuple(int(x) for x in c.split(".")) for c in columns}
        result: dict[str, dict[str, Value]] = {c: {} for c in prefixes}
        cursor: dict[str, tuple[int, ...]] = dict(prefixes)
        active = list(prefixes)
        requests = 0
        while active and requests < max_requests:
            requests += 1
            kind = "bulk" if target.use_getbulk else "next"
            vbs = await self.request(target, kind, [cursor[c] for c in active])
            width = len(active)
            finished: set[str] = set()
            for i, (oid, value) in enumerate(vbs):
                column = active[i % width]
                if column in finished:
                    continue
                prefix = prefixes[column]
                if value is ber.END_OF_MIB or oid[: len(prefix)] != prefix or oid <= cursor[column]:
                    finished.add(column)
                    continue
                cursor[column] = oid
                if value is not None:
                    result[column][".".join(map(str, oid[len(prefix) :]))] = value  # type: ignore[assignment]
            if not vbs:
                break
            active = [c for c in active if c not in finished]
        return result
