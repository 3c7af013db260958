"""The SNMP trap receiver: v2c traps, v3 (USM) traps and informs, on UDP (127.0.0.1:1162 by default).

Each notification becomes an ``Event`` on the ``EventBus``: standard ones (coldStart, warmStart,
linkDown, linkUp, authenticationFailure) by name, with the interface identified (``if_index`` from the
trap's ifIndex varbind; ``if_name``, ``if_alias``, ``if_descr`` from the newest poll, the labels the polled
series carry); anything else as ``snmp.trap`` with its trap OID and varbinds kept. The sending device is
found from the inventory by source address (or snmpTrapAddress.0 when relayed), narrowed by community or
v3 user. A trap also triggers an immediate re-poll of its device: state
(and recovery) comes from the poll, not from a lost-able UDP packet alone. An authenticationFailure trap
re-polls nothing; it is remembered by sender address (``last_auth_failure``), so the poller can tell a
v2c device that ignores our community from a dead one.

Datagrams are screened before pysnmp sees them: oversized ones and anything that is not a single BER
SEQUENCE are counted and dropped; pysnmp's own parse/auth failures are counted from its MIB counters.
Nothing a sender does stops the receiver.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.smi.error import SmiError

from alerting.clock import Clock
from collector.events import Event, EventBus, Severity
from collector.snmp.client import _AUTH, _PRIV, to_value
from collector.snmp.inventory import Device, Inventory, SecurityLevel

log = logging.getLogger("wardwatch.snmp.traps")

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_INDEX_PREFIX = "1.3.6.1.2.1.2.2.1.1."
STANDARD_TRAPS: dict[str, tuple[str, Severity]] = {
    "1.3.6.1.6.3.1.1.5.1": ("coldStart", Severity.WARNING),
    "1.3.6.1.6.3.1.1.5.2": ("warmStart", Severity.INFO),
    "1.3.6.1.6.3.1.1.5.3": ("linkDown", Severity.WARNING),
    "1.3.6.1.6.3.1.1.5.4": ("linkUp", Severity.INFO),
    "1.3.6.1.6.3.1.1.5.5": ("authenticationFailure", Severity.WARNING),
}
# pysnmp's own counters of what it dropped, by our reason label.
_ENGINE_COUNTERS = {
    "malformed": ("__SNMPv2-MIB", "snmpInASNParseErrs"),
    "bad_community": ("__SNMPv2-MIB", "snmpInBadCommunityNames"),
    "unknown_user": ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames"),
    "auth_failure": ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests"),
    "decryption_error": ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors"),
    "bad_version": ("__SNMPv2-MIB", "snmpInBadVersions"),
    # (usmStatsUnknownEngineIDs / NotInTimeWindows are left out: informs' engine discovery bumps them.)
}


def ber_problem(datagram: bytes, max_bytes: int) -> str | None:
    """Why a datagram cannot be an SNMP message, or None: oversized, or not exactly one BER SEQUENCE."""
    if len(datagram) > max_bytes:
        return "oversized"
    if len(datagram) < 2 or datagram[0] != 0x30:
        return "not_snmp"
    first = datagram[1]
    if first < 0x80:
        length, header = first, 2
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or len(datagram) < 2 + n:
            return "not_snmp"
        length, header = int.from_bytes(datagram[2 : 2 + n], "big"), 2 + n
    if header + length != len(datagram):
        return "not_snmp"
    return None


class _ScreeningUdpTransport(udp.UdpAsyncioTransport):
    """pysnmp's UDP transport with a screen in front and a guard around pysnmp's processing."""

    def __init__(self, dropped: Counter[str], max_bytes: int) -> None:
        super().__init__()
        self._dropped = dropped
        self._max_bytes = max_bytes

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        problem = ber_problem(datagram, self._max_bytes)
        if problem is not None:
            self._dropped[problem] += 1
            return
        self.loop.call_soon(self._deliver, transportAddress, datagram)

    def _deliver(self, address: Any, datagram: bytes) -> None:
        if self._callback_function is None:
            return
        try:
            self._callback_function(self, address, datagram)
        except Exception:  # boundary: a PDU pysnmp chokes on must not stop the receiver
            self._dropped["malformed"] += 1
            log.debug("trap datagram from %s dropped", address, exc_info=True)


class TrapReceiver:
    def __init__(
        self,
        *,
        inventory: Inventory,
        bus: EventBus,
        clock: Clock,
        host: str = "127.0.0.1",
        port: int = 1162,
        max_datagram_bytes: int = 8192,
        interfaces: Callable[[str, str], dict[str, str]] | None = None,
        on_device_trap: Callable[[str], None] | None = None,
    ) -> None:
        self.inventory = inventory
        self.bus = bus
        self.clock = clock
        self.host = host
        self.port = port
        self.max_datagram_bytes = max_datagram_bytes
        self._interfaces = interfaces or (lambda device, if_index: {})
        self._on_device_trap = on_device_trap
        self.traps: Counter[tuple[str, str]] = Counter()  # (device, kind) → count
        # sender IP → when its newest authenticationFailure trap came (whichever device, if any, it names)
        self.auth_failures: dict[str, float] = {}
        self.dropped: Counter[str] = Counter()
        self._engine: engine.SnmpEngine | None = None
        self._receiver: ntfrcv.NotificationReceiver | None = None
        self._community_devices: dict[str, list[Device]] = {}  # community index → devices
        self._addresses: dict[str, str] = {}  # device name → IP

    async def start(self) -> tuple[str, int]:
        """Bind and start receiving; returns the bound (host, port) (port 0 picks a free one)."""
        eng = engine.SnmpEngine()
        communities: dict[str, str] = {}
        for d in self.inventory.devices:
            self._addresses[d.name] = await _resolve(d.address)
            if d.version == "2c" and d.community is not None:
                secret = d.community.get_secret_value()
                index = communities.setdefault(secret, f"c{len(communities)}")
                self._community_devices.setdefault(index, []).append(d)
            elif d.v3 is not None:
                _add_v3_user(eng, d)
        for secret, index in communities.items():
            config.add_v1_system(eng, index, secret)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as err:
            sock.close()
            eng.close_dispatcher()
            hint = " (ports below 1024 need CAP_NET_BIND_SERVICE)" if err.errno == 13 else ""
            raise OSError(
                err.errno,
                f"SNMP trap receiver: cannot bind udp {self.host}:{self.port}: {err.strerror}{hint}",
            ) from None
        sock.setblocking(False)
        transport = _ScreeningUdpTransport(self.dropped, self.max_datagram_bytes)
        config.add_transport(eng, udp.DOMAIN_NAME, transport.open_server_mode(sock=sock))
        await transport._lport  # the endpoint exists once this finishes
        self._engine = eng
        self._receiver = ntfrcv.NotificationReceiver(eng, self._on_notification)
        self.host, self.port = sock.getsockname()[:2]
        log.info("snmp trap receiver on %s:%d", self.host, self.port)
        return self.host, self.port

    async def stop(self) -> None:
        if self._receiver is not None and self._engine is not None:
            self._receiver.close(self._engine)
        if self._engine is not None:
            self._engine.close_dispatcher()
        self._engine = self._receiver = None

    # -- processing ------------------------------------------------------------------------------
    def _on_notification(
        self,
        eng: Any,
        state_reference: Any,
        context_engine_id: Any,
        context_name: Any,
        varbinds: Any,
        ctx: Any,
    ) -> None:
        try:
            exec_ctx = eng.observer.get_execution_context("rfc3412.receiveMessage:request")
            address = exec_ctx["transportAddress"]
            sender_ip = str(address[0])
            security_model = int(exec_ctx["securityModel"])
            security_name = str(exec_ctx["securityName"])
            self.handle(sender_ip, security_model, security_name, varbinds)
        except Exception:  # boundary: a strange notification never stops the receiver
            self.dropped["malformed"] += 1
            log.exception("trap processing failed")

    def identify(self, sender_ip: str, security_model: int, security_name: str) -> Device | None:
        by_ip = [d for d in self.inventory.devices if self._addresses.get(d.name) == sender_ip]
        if security_model in (1, 2):
            by_cred = self._community_devices.get(security_name, [])
        else:
            by_cred = [d for d in self.inventory.devices if d.v3 is not None and d.v3.user == security_name]
        both = [d for d in by_ip if d in by_cred]
        if both:
            return both[0]
        return None

    def handle(self, sender_ip: str, security_model: int, security_name: str, varbinds: Any) -> Event:
        vbs = [(str(oid), value) for oid, value in varbinds]
        values = {oid: to_value(v) for oid, v in vbs}
        relayed = values.get(SNMP_TRAP_ADDRESS)
        origin = relayed if isinstance(relayed, str) and _is_ip(relayed) else sender_ip
        device = self.identify(origin, security_model, security_name)
        if device is None and origin != sender_ip:
            device = self.identify(sender_ip, security_model, security_name)
        trap_oid = str(values.get(SNMP_TRAP_OID, ""))
        name, severity = STANDARD_TRAPS.get(trap_oid, ("trap", Severity.INFO))
        labels: dict[str, str] = {"address": origin, "trap_oid": trap_oid}
        if name in {"linkDown", "linkUp"}:
            for oid, v in values.items():
                if oid.startswith(IF_INDEX_PREFIX):
                    labels["if_index"] = str(v if v is not None else oid[len(IF_INDEX_PREFIX) :])
                    break
            if "if_index" in labels and device is not None:
                labels.update(self._interfaces(device.name, labels["if_index"]))
        device_name = device.name if device is not None else ""
        event = Event(
            kind=f"snmp.{name}",
            source_kind="snmp",
            source_name=device_name,
            labels=labels,
            varbinds=tuple((oid, _text(v)) for oid, v in vbs),
            received_at=self.clock.time(),
            severity=severity,
        )
        self.traps[(device_name or "unknown", name)] += 1
        self.bus.publish(event)
        if name == "authenticationFailure":
            # Someone's request had a bad community: nothing about the device's state to re-poll (and our own
            # polls with a wrong community would re-poll themselves for ever). The poller reads it instead;
            # only inventory addresses are kept (a relayed snmpTrapAddress could name any).
            if origin in self._addresses.values():
                self.auth_failures[origin] = event.received_at
        elif device is not None and self._on_device_trap is not None:
            self._on_device_trap(device.name)
        return event

    def last_auth_failure(self, device: str) -> float | None:
        """When the newest authenticationFailure trap came from the address of inventory device ``device``
        (by IP: the agent sends from any port), or None."""
        address = self._addresses.get(device)
        return self.auth_failures.get(address) if address is not None else None

    def engine_drops(self) -> dict[str, int]:
        if self._engine is None:
            return {}
        builder = self._engine.get_mib_builder()
        out = {}
        for reason, (module, symbol) in _ENGINE_COUNTERS.items():
            try:
                (counter,) = builder.import_symbols(module, symbol)
                out[reason] = int(counter.syntax)
            except SmiError:  # a counter this pysnmp version lacks
                continue
        return out


def _add_v3_user(eng: engine.SnmpEngine, device: Device) -> None:
    v3 = device.v3
    assert v3 is not None
    level = v3.security_level
    auth_proto = (
        _AUTH[v3.auth_protocol] if level is not SecurityLevel.NO_AUTH_NO_PRIV else config.USM_AUTH_NONE
    )
    priv_proto = _PRIV[v3.priv_protocol] if level is SecurityLevel.AUTH_PRIV else config.USM_PRIV_NONE
    auth_key = (
        v3.auth_password.get_secret_value()
        if v3.auth_password and level is not SecurityLevel.NO_AUTH_NO_PRIV
        else None
    )
    priv_key = (
        v3.priv_password.get_secret_value() if v3.priv_password and level is SecurityLevel.AUTH_PRIV else None
    )
    # Informs: the receiver is authoritative (its own engine ID). Traps: the sender's engine ID.
    config.add_v3_user(eng, v3.user, auth_proto, auth_key, priv_proto, priv_key)
    if v3.engine_id:
        config.add_v3_user(
            eng,
            v3.user,
            auth_proto,
            auth_key,
            priv_proto,
            priv_key,
            securityEngineId=univ.OctetString(hexValue=v3.engine_id.removeprefix("0x")),
        )


def _text(value: Any) -> str:
    v = to_value(value)
    return "" if v is None else str(v)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def _resolve(address: str) -> str:
    if _is_ip(address):
        return address
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(address, None, family=socket.AF_INET)
    except OSError:
        return address
    return str(infos[0][4][0]) if infos else address


class TrapCollector(Collector):
    """``wardwatch_snmp_traps_total{device,kind}`` and ``..._trap_datagrams_dropped_total{reason}``."""

    def __init__(self, receiver: TrapReceiver) -> None:
        self._receiver = receiver

    def collect(self) -> Iterator[Metric]:
        traps = CounterMetricFamily(
            "wardwatch_snmp_traps",
            "SNMP notifications received, by device and kind.",
            labels=["device", "kind"],
        )
        for (device, kind), n in sorted(self._receiver.traps.items()):
            traps.add_metric([device, kind], n)
        dropped = CounterMetricFamily(
            "wardwatch_snmp_trap_datagrams_dropped",
            "Datagrams on the trap port that carried no usable notification, by reason.",
            labels=["reason"],
        )
        reasons = Counter(self._receiver.dropped)
        reasons.update(self._receiver.engine_drops())
        for reason, n in sorted(reasons.items()):
            dropped.add_metric([reason], n)
        yield traps
        yield dropped

    def describe(self) -> list[Metric]:
        return []
