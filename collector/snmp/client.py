"""A thin SNMP client over pysnmp's asyncio engine: GET, GETBULK/GETNEXT column walks, numeric OIDs.

It talks to pysnmp's command generators directly with raw varbinds, skipping the high-level API's
MIB resolution (``make_varbinds``/``unmake_varbinds``): we poll numeric OIDs only, and that layer was
the first hot spot when profiling (see docs/benchmarks.md).

pysnmp reports failures as values (``errorIndication``, ``errorStatus``); ``_raise_for`` turns them
into the exceptions of this module, in one place. Error messages name the target, never a secret.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
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
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
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
from collector.snmp.inventory import AuthProtocol, Device, PrivProtocol, SecurityLevel

Value = int | str
Oid = tuple[int, ...]
# RFC 3416 error-status names, for messages.
_ERROR_STATUS = dict(
    enumerate(
        "noError tooBig noSuchName badValue readOnly genErr noAccess wrongType wrongLength wrongEncoding "
        "wrongValue noCreation inconsistentValue resourceUnavailable commitFailed undoFailed "
        "authorizationError notWritable inconsistentName".split()
    )
)

_AUTH = {
    AuthProtocol.SHA: usmHMACSHAAuthProtocol,
    AuthProtocol.SHA224: usmHMAC128SHA224AuthProtocol,
    AuthProtocol.SHA256: usmHMAC192SHA256AuthProtocol,
    AuthProtocol.SHA384: usmHMAC256SHA384AuthProtocol,
    AuthProtocol.SHA512: usmHMAC384SHA512AuthProtocol,
}
_PRIV = {
    PrivProtocol.AES128: usmAesCfb128Protocol,
    PrivProtocol.AES192: usmAesCfb192Protocol,
    PrivProtocol.AES256: usmAesCfb256Protocol,
}


class SnmpError(Exception):
    """Base of SNMP failures; ``kind`` is the short label used in metrics and status."""

    kind = "error"


class SnmpTimeout(SnmpError):
    kind = "timeout"  # no answer; for v2c this is also what a wrong community looks like


class SnmpUnreachable(SnmpError):
    kind = "unreachable"  # ICMP port/host unreachable: nothing listens there


class SnmpAuthError(SnmpError):
    kind = "auth_failure"  # v3: wrong authentication password (usmStatsWrongDigests)


class SnmpUnknownUser(SnmpError):
    kind = "unknown_user"  # v3: usmStatsUnknownUserNames


class SnmpNoSuchName(SnmpError):
    kind = "no_such_name"  # nothing the profile asks for exists on the device


class SnmpErrorStatus(SnmpError):
    kind = "error_status"  # the agent answered with an error-status (genErr, tooBig, ...)


class SnmpProtocolError(SnmpError):
    kind = "protocol_error"  # other engine-level failures (decryption, time window, ...)


_INDICATION_ERRORS: dict[type, tuple[type[SnmpError], str]] = {
    errind.RequestTimedOut: (SnmpTimeout, "no response"),
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
    community: bytes | None = None  # v2c: sent by the fast path (ber.py); None for v3

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


class _V2cProtocol(asyncio.DatagramProtocol):
    """One UDP socket for every v2c request; answers are routed to their waiter by request id."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[tuple[str, int], asyncio.Future[Any]]] = {}
        self.undecodable = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            decoded = ber.decode_response(data)
        except (ber.BerError, IndexError):
            self.undecodable += 1
            return
        waiter = self.pending.get(decoded[0])
        if waiter is None or tuple(addr[:2]) != waiter[0] or waiter[1].done():
            return  # late (after a retry answered), unknown or spoofed
        del self.pending[decoded[0]]
        waiter[1].set_result(decoded)


class SnmpClient:
    """One per process: wraps the ``SnmpEngine`` (made in the component's cleanup context).

    v2c requests go through ``ber.py`` on one asyncio UDP socket (``fast_v2c``); v3 through
    pysnmp (USM). Both return varbinds as ``(oid tuple, int | str | None | END_OF_MIB)``.
    """

    def __init__(self, engine: SnmpEngine | None = None, *, fast_v2c: bool = True) -> None:
        self.engine = engine or SnmpEngine()
        self.fast_v2c = fast_v2c
        self._transports: dict[tuple[str, int, float, int], UdpTransportTarget] = {}
        self._v2c: _V2cProtocol | None = None
        self._v2c_lock = asyncio.Lock()
        self._request_id = secrets.randbelow(2**30)

    def close(self) -> None:
        if self._v2c is not None and self._v2c.transport is not None:
            self._v2c.transport.close()
        self.engine.close_dispatcher()

    async def _v2c_endpoint(self) -> _V2cProtocol:
        async with self._v2c_lock:
            if self._v2c is None:
                loop = asyncio.get_running_loop()
                _, protocol = await loop.create_datagram_endpoint(
                    _V2cProtocol, local_addr=("0.0.0.0", 0), family=socket.AF_INET
                )
                self._v2c = protocol
            return self._v2c

    async def _v2c_request(self, target: Target, kind: str, oids: list[Oid]) -> list[tuple[Oid, ber.Value]]:
        assert target.community is not None
        protocol = await self._v2c_endpoint()
        loop = asyncio.get_running_loop()
        pdu_type = {"get": ber.GET, "next": ber.GETNEXT, "bulk": ber.GETBULK}[kind]
        address = (target.host, target.port)
        for _attempt in range(target.retries + 1):
            self._request_id = (self._request_id + 1) % 2**31
            request_id = self._request_id
            message = ber.encode_request(
                target.community, pdu_type, request_id, oids, max_repetitions=target.max_repetitions
            )
            future: asyncio.Future[Any] = loop.create_future()
            protocol.pending[request_id] = (address, future)
            try:
                assert protocol.transport is not None
                protocol.transport.sendto(message, address)
                _, status, index, varbinds = await asyncio.wait_for(future, target.timeout_seconds)
            except TimeoutError:
                continue
            finally:
                protocol.pending.pop(request_id, None)
            if status:
                self._raise_for_status(target, _ERROR_STATUS.get(status, str(status)), index)
            return varbinds
        if await port_unreachable(target.host, target.port):
            raise SnmpUnreachable(f"{target.name} ({target.where}): port unreachable (nothing listens there)")
        raise SnmpTimeout(
            f"{target.name} ({target.where}): no response after {target.retries + 1} tries of "
            f"{target.timeout_seconds:g}s (for v2c a wrong community looks the same)"
        )

    @staticmethod
    def _raise_for_status(target: Target, name: str, index: int) -> None:
        if name == "noSuchName":
            raise SnmpNoSuchName(f"{target.name} ({target.where}): noSuchName at varbind {int(index)}")
        raise SnmpErrorStatus(
            f"{target.name} ({target.where}): agent answered {name} at varbind {int(index)}"
        )

    async def request(self, target: Target, kind: str, oids: list[Oid]) -> list[tuple[Oid, ber.Value]]:
        """One GET/GETNEXT/GETBULK ("get", "next", "bulk"), varbinds normalised."""
        if self.fast_v2c and target.community is not None:
            return await self._v2c_request(target, kind, oids)
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
            raise SnmpTimeout(f"{target.name} ({target.where}): no response within {deadline:.0f}s") from None
        if indication:
            await self._raise_for_indication(target, indication)
        if status and int(status) != 0:
            name = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
            self._raise_for_status(target, name, int(index))
        return list(vbs)

    async def _raise_for_indication(self, target: Target, indication: Any) -> None:
        for cls, (error, text) in _INDICATION_ERRORS.items():
            if isinstance(indication, cls):
                if error is SnmpTimeout and await port_unreachable(target.host, target.port):
                    raise SnmpUnreachable(
                        f"{target.name} ({target.where}): port unreachable (nothing listens there)"
                    )
                if error is SnmpTimeout:
                    hint = (
                        " (for v2c a wrong community looks the same)"
                        if isinstance(target.auth, CommunityData)
                        else ""
                    )
                    text = (
                        f"no response after {target.retries + 1} tries of {target.timeout_seconds:g}s{hint}"
                    )
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


async def port_unreachable(host: str, port: int, *, wait_seconds: float = 0.3) -> bool:
    """Tell "nothing listens there" from "no answer": a connected UDP socket receives the ICMP
    port-unreachable as ConnectionRefusedError. Sends one empty BER SEQUENCE (an agent drops it as
    unparsable; asyncio will not send a zero-length datagram)."""
    loop = asyncio.get_running_loop()
    refused = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def error_received(self, exc: Exception) -> None:
            if not refused.done():
                refused.set_result(isinstance(exc, ConnectionRefusedError | OSError))

        def connection_lost(self, exc: Exception | None) -> None:
            if not refused.done():
                refused.set_result(False)

    try:
        transport, _ = await loop.create_datagram_endpoint(
            Probe, remote_addr=(host, port), family=socket.AF_INET
        )
    except OSError:
        return True
    try:
        transport.sendto(b"\x30\x00")
        return await asyncio.wait_for(refused, wait_seconds)
    except TimeoutError:
        return False
    finally:
        transport.close()
