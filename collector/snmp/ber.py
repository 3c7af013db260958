"""A small BER codec for SNMPv2c messages: GET/GETNEXT/GETBULK requests and their responses.

Why: pysnmp decodes through pyasn1, which builds an object per tag; profiling a 49-interface switch
poll (883 varbinds) put ~75% of wardwatch's CPU in pyasn1's decoder and made a poll cost ~10× the
CPU of prometheus-snmp-exporter (docs/benchmarks.md). SNMPv2c messages are plain, unencrypted BER
with a fixed shape, so for v2c we encode and decode them here, straight from bytes to Python ints
and strings. v3 (USM authentication and privacy) stays on pysnmp.

Values decode to ``int`` (INTEGER, Counter32/64, Gauge32, TimeTicks, Unsigned32), ``str`` (OCTET
STRING as UTF-8 text when printable, else ``0x<hex>``; IpAddress dotted; OBJECT IDENTIFIER dotted),
``None`` (NULL, noSuchObject, noSuchInstance) or ``END_OF_MIB``.
"""

from __future__ import annotations

from typing import Final

GET: Final = 0xA0
GETNEXT: Final = 0xA1
RESPONSE: Final = 0xA2
GETBULK: Final = 0xA5


class _EndOfMib:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MIB"


END_OF_MIB: Final = _EndOfMib()

Oid = tuple[int, ...]
Value = int | str | None | _EndOfMib


class BerError(ValueError):
    """Not a well-formed SNMPv2c response."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


def encode_int(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def encode_oid(oid: Oid) -> bytes:
    if len(oid) < 2:
        raise ValueError("an OID needs at least two arcs")
    out = bytearray((oid[0] * 40 + oid[1],))
    for arc in oid[2:]:
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = []
        while arc:
            chunk.append(arc & 0x7F)
            arc >>= 7
        for i in range(len(chunk) - 1, 0, -1):
            out.append(chunk[i] | 0x80)
        out.append(chunk[0])
    return tlv(0x06, bytes(out))


def encode_pdu(
    pdu_type: int, request_id: int, oids: list[Oid], *, non_repeaters: int = 0, max_repetitions: int = 0
) -> bytes:
    varbinds = b"".join(tlv(0x30, encode_oid(o) + b"\x05\x00") for o in oids)
    a, b = (non_repeaters, max_repetitions) if pdu_type == GETBULK else (0, 0)
    return tlv(pdu_type, encode_int(request_id) + encode_int(a) + encode_int(b) + tlv(0x30, varbinds))


def encode_request(
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: list[Oid],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    pdu = encode_pdu(pdu_type, request_id, oids, non_repeaters=non_repeaters, max_repetitions=max_repetitions)
    return tlv(0x30, encode_int(1) + tlv(0x04, community) + pdu)


def _text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()
    if text.isprintable() or not text:
        return text
    stripped = text.rstrip("\x00")
    return stripped if stripped.isprintable() else "0x" + raw.hex()


def _oid(data: bytes, start: int, end: int) -> Oid:
    if start >= end:
        raise BerError("empty OID")
    first = data[start]
    arcs = [first // 40, first % 40] if first < 80 else [2, first - 80]
    value = 0
    for i in range(start + 1, end):
        byte = data[i]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return tuple(arcs)


REPORT: Final = 0xA8


def header(data: bytes, pos: int, expected: int | None = None) -> tuple[int, int, int]:
    """``(tag, start of contents, length)`` of the TLV at ``pos``; checks it fits in ``data``."""
    n = len(data)
    if pos + 2 > n:
        raise BerError("truncated")
    tag = data[pos]
    if expected is not None and tag != expected:
        raise BerError(f"expected tag {expected:#x}, got {tag:#x}")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        k = length & 0x7F
        if k == 0 or k > 4 or pos + k > n:
            raise BerError("bad length")
        length = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    if pos + length > n:
        raise BerError("truncated")
    return tag, pos, length


def read_int(data: bytes, pos: int) -> tuple[int, int]:
    """``(value, next position)`` of an INTEGER at ``pos``."""
    _, start, length = header(data, pos, 0x02)
    return int.from_bytes(data[start : start + length], "big", signed=True), start + length


def read_octets(data: bytes, pos: int) -> tuple[bytes, int]:
    _, start, length = header(data, pos, 0x04)
    return data[start : start + length], start + length


def decode_pdu(data: bytes, pos: int) -> tuple[int, int, int, int, list[tuple[Oid, Value]]]:
    """``(pdu tag, request_id, error_status, error_index, varbinds)`` of the PDU at ``pos``."""
    tag, pos, _ = header(data, pos)
    if tag not in (RESPONSE, REPORT):
        raise BerError(f"not a response PDU ({tag:#x})")
    request_id, pos = read_int(data, pos)
    error_status, pos = read_int(data, pos)
    error_index, pos = read_int(data, pos)
    _, pos, length = header(data, pos, 0x30)
    end = pos + length
    varbinds: list[tuple[Oid, Value]] = []
    append = varbinds.append
    from_bytes = int.from_bytes
    while pos < end:
        _, pos, _ = header(data, pos, 0x30)
        _, pos, length = header(data, pos, 0x06)
        oid = _oid(data, pos, pos + length)
        pos += length
        vtag, pos, length = header(data, pos)
        raw = data[pos : pos + length]
        pos += length
        value: Value
        if vtag == 0x02:
            value = from_bytes(raw, "big", signed=True)
        elif vtag in (0x41, 0x42, 0x43, 0x46, 0x47):  # Counter32, Gauge32, TimeTicks, Counter64, Unsigned
            value = from_bytes(raw, "big", signed=False)
        elif vtag == 0x04:
            value = _text(raw)
        elif vtag == 0x40 and length == 4:
            value = ".".join(str(b) for b in raw)
        elif vtag == 0x06:
            value = ".".join(map(str, _oid(raw, 0, length)))
        elif vtag == 0x82:
            value = END_OF_MIB
        else:  # NULL, noSuchObject (0x80), noSuchInstance (0x81), Opaque...
            value = None
        append((oid, value))
    return tag, request_id, error_status, error_index, varbinds


def decode_response(data: bytes) -> tuple[int, int, int, list[tuple[Oid, Value]]]:
    """``(request_id, error_status, error_index, [(oid, value), ...])`` of a v2c Response-PDU."""
    _, pos, _ = header(data, 0, 0x30)
    version, pos = read_int(data, pos)
    if version != 1:
        raise BerError("not an SNMPv2c message")
    _, pos = read_octets(data, pos)  # community: the agent echoes ours; the request id matched
    tag, request_id, status, index, varbinds = decode_pdu(data, pos)
    if tag != RESPONSE:
        raise BerError("not a Response-PDU")
    return request_id, status, index, varbinds
