"""SNMP requests on the wire without pysnmp: one asyncio UDP socket for every device, v2c messages by
``ber.py``, v3 (USM) by ``usm.py``; answers routed to their waiter by id, from the address asked only.

Why not pysnmp here: its pyasn1 decoding cost ~10× the exporter's CPU per poll (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from collector.snmp import ber, usm
from collector.snmp.errors import (
    V2C_SILENCE,
    SnmpAuthError,
    SnmpProtocolError,
    SnmpTimeout,
    SnmpUnknownUser,
    SnmpUnreachable,
    no_answer,
    status_error,
)

if TYPE_CHECKING:
    from collector.snmp.client import Target

PDU_TYPES = {"get": ber.GET, "next": ber.GETNEXT, "bulk": ber.GETBULK}


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[tuple[str, int], asyncio.Future[bytes]]] = {}
        self.unroutable = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        message_id = usm.peek_message_id(data)
        waiter = self.pending.get(message_id) if message_id is not None else None
        if waiter is None or tuple(addr[:2]) != waiter[0] or waiter[1].done():
            self.unroutable += 1  # late (a retry was answered first), unknown or from elsewhere
            return
        waiter[1].set_result(data)


class Requester:
    def __init__(self) -> None:
        self._protocol: _Protocol | None = None
        self._lock = asyncio.Lock()
        self._next_id = int.from_bytes(os.urandom(3), "big")
        self._engines: dict[tuple[str, int, str], usm.EngineState] = {}

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    async def _endpoint(self) -> _Protocol:
        async with self._lock:
            if self._protocol is None:
                _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
                    _Protocol,
                    local_addr=("0.0.0.0", 0),
                    family=socket.AF_INET,
                )
                self._protocol = protocol
            return self._protocol

    def _id(self) -> int:
        self._next_id = (self._next_id + 1) % 2**31
        return self._next_id

    async def _exchange(self, target: Target, message_id: int, message: bytes) -> bytes | None:
        """Send once, wait one timeout; None when nothing came back."""
        protocol = await self._endpoint()
        address = (target.host, target.port)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        protocol.pending[message_id] = (address, future)
        try:
            assert protocol.transport is not None
            protocol.transport.sendto(message, address)
            return await asyncio.wait_for(future, target.timeout_seconds)
        except TimeoutError:
            return None
        finally:
            protocol.pending.pop(message_id, None)

    async def _no_answer(self, target: Target, hint: str) -> Exception:
        who = f"{target.name} ({target.where})"
        if await port_unreachable(target.host, target.port):
            return SnmpUnreachable(f"{who}: port unreachable (nothing listens there)")
        return SnmpTimeout(f"{who}: {no_answer(target.retries + 1, target.timeout_seconds, hint)}")

    # -- v2c -------------------------------------------------------------------------------------
    async def request_v2c(
        self, target: Target, kind: str, oids: list[ber.Oid]
    ) -> list[tuple[ber.Oid, ber.Value]]:
        assert target.community is not None
        for _attempt in range(target.retries + 1):
            request_id = self._id()
            message = ber.encode_request(
                target.community, PDU_TYPES[kind], request_id, oids, max_repetitions=target.max_repetitions
            )
            data = await self._exchange(target, request_id, message)
            if data is None:
                continue
            try:
                _, status, index, varbinds = ber.decode_response(data)
            except (ber.BerError, IndexError) as err:
                raise SnmpProtocolError(
                    f"{target.name} ({target.where}): unreadable answer ({err})"
                ) from None
            if status:
                raise status_error(f"{target.name} ({target.where})", status, index)
            return varbinds
        raise await self._no_answer(target, V2C_SILENCE)

    # -- v3 --------------------------------------------------------------------------------------
    async def _discover(self, target: Target) -> usm.EngineState:
        assert target.v3 is not None
        for _attempt in range(target.retries + 1):
            message_id = self._id()
            probe = usm.encode_message(
                message_id=message_id,
                user=b"",
                level=target.v3.security_level,
                engine=None,
                pdu=ber.encode_pdu(ber.GET, message_id, []),
            )
            data = await self._exchange(target, message_id, probe)
            if data is None:
                continue
            try:
                answer = usm.decode_message(data, lambda engine_id: None)
            except usm.UsmError as err:
                raise SnmpProtocolError(
                    f"{target.name} ({target.where}): engine discovery failed ({err})"
                ) from None
            if not answer.engine_id:
                raise SnmpProtocolError(f"{target.name} ({target.where}): engine discovery gave no engine ID")
            state = usm.EngineState(answer.engine_id, answer.boots, answer.time, time.monotonic())
            state.keys = usm.local_keys(target.v3, answer.engine_id)
            return state
        raise await self._no_answer(target, "")

    async def request_v3(
        self, target: Target, kind: str, oids: list[ber.Oid]
    ) -> list[tuple[ber.Oid, ber.Value]]:
        v3 = target.v3
        assert v3 is not None
        who = f"{target.name} ({target.where})"
        key = (target.host, target.port, v3.user)
        resynced = False
        attempts = target.retries + 1
        while attempts > 0:
            state = self._engines.get(key)
            if state is None:
                state = await self._discover(target)
                self._engines[key] = state
            message_id = self._id()
            message = usm.encode_message(
                message_id=message_id,
                user=v3.user.encode(),
                level=v3.security_level,
                engine=state,
                pdu=ber.encode_pdu(PDU_TYPES[kind], message_id, oids, max_repetitions=target.max_repetitions),
            )
            data = await self._exchange(target, message_id, message)
            attempts -= 1
            if data is None:
                continue
            try:
                answer = usm.decode_message(
                    data, lambda engine_id, s=state: s.keys if engine_id == s.engine_id else None
                )
            except usm.UsmError as err:
                raise SnmpAuthError(f"{who}: {err}") from None
            if answer.pdu_tag == ber.REPORT:
                report = answer.varbinds[0][0] if answer.varbinds else ()
                if report == usm.REPORT_NOT_IN_TIME_WINDOW and not resynced:
                    state.boots, state.time, state.learned_at = answer.boots, answer.time, time.monotonic()
                    resynced, attempts = True, attempts + 1
                    continue
                if report == usm.REPORT_UNKNOWN_ENGINE_ID and not resynced:
                    self._engines.pop(key, None)
                    resynced, attempts = True, attempts + 1
                    continue
                raise _report_error(who, report)
            if answer.engine_id == state.engine_id and answer.boots >= state.boots:
                state.boots, state.time, state.learned_at = answer.boots, answer.time, time.monotonic()
            if answer.error_status:
                raise status_error(who, answer.error_status, answer.error_index)
            return answer.varbinds
        raise await self._no_answer(target, "")


def _report_error(who: str, report: tuple[int, ...]) -> Exception:
    if report == usm.REPORT_UNKNOWN_USER:
        return SnmpUnknownUser(f"{who}: unknown v3 user")
    if report == usm.REPORT_WRONG_DIGEST:
        return SnmpAuthError(f"{who}: authentication failed (wrong v3 auth password or protocol)")
    if report == usm.REPORT_DECRYPTION_ERROR:
        return SnmpAuthError(f"{who}: decryption failed (wrong v3 privacy password or protocol)")
    if report == usm.REPORT_UNSUPPORTED_LEVEL:
        return SnmpAuthError(f"{who}: security level not supported for this user")
    return SnmpProtocolError(f"{who}: agent reported {'.'.join(map(str, report)) or 'nothing'}")


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
