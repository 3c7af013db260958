"""SNMPv3 with USM for polling, without pyasn1: engine discovery, HMAC-SHA/SHA-2 authentication
(RFC 3414, RFC 7860) and AES-CFB privacy (RFC 3826; AES-192/256 keys extended as in
draft-blumenthal-aes-usm, as net-snmp and pysnmp do). Messages are built and read with ``ber.py``.

Why: pysnmp decodes v3 answers with pyasn1 at ~10× the CPU of the v2c codec (docs/benchmarks.md).
The trap receiver still uses pysnmp (traps are few; informs need an authoritative engine).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # AES-CFB moved to "decrepit" in cryptography 43 (RFC 3826 still needs it)
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[no-redef]

from collector.snmp import ber
from collector.snmp.inventory import AuthProtocol, PrivProtocol, SecurityLevel, V3Credentials

_HASH: dict[AuthProtocol, tuple[str, int]] = {  # hash, HMAC truncation (bytes)
    AuthProtocol.SHA: ("sha1", 12),
    AuthProtocol.SHA224: ("sha224", 16),
    AuthProtocol.SHA256: ("sha256", 24),
    AuthProtocol.SHA384: ("sha384", 32),
    AuthProtocol.SHA512: ("sha512", 48),
}
_AES_KEY = {PrivProtocol.AES128: 16, PrivProtocol.AES192: 24, PrivProtocol.AES256: 32}
MAX_MESSAGE_SIZE = 65507

# usmStats* report OIDs (RFC 3414 §5) → what they mean for the poller
REPORT_UNSUPPORTED_LEVEL = (1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0)
REPORT_NOT_IN_TIME_WINDOW = (1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0)
REPORT_UNKNOWN_USER = (1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0)
REPORT_UNKNOWN_ENGINE_ID = (1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0)
REPORT_WRONG_DIGEST = (1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0)
REPORT_DECRYPTION_ERROR = (1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0)


class UsmError(ValueError):
    """A v3 answer that fails authentication or cannot be read."""


@functools.lru_cache(maxsize=512)
def password_key(password: str, hash_name: str) -> bytes:
    """RFC 3414 A.2: hash 1 MB of the repeated password (expensive: cached)."""
    raw = password.encode()
    size = 1_048_576
    return hashlib.new(hash_name, (raw * (size // len(raw) + 1))[:size]).digest()


def localize(key: bytes, engine_id: bytes, hash_name: str) -> bytes:
    return hashlib.new(hash_name, key + engine_id + key).digest()


@dataclass(frozen=True)
class LocalKeys:
    hash_name: str
    mac_length: int
    auth_key: bytes | None
    priv_key: bytes | None  # AES key (16/24/32 bytes)

    def __repr__(self) -> str:
        return f"LocalKeys({self.hash_name})"


def local_keys(v3: V3Credentials, engine_id: bytes) -> LocalKeys:
    hash_name, mac_length = _HASH[v3.auth_protocol]
    auth_key = priv_key = None
    if v3.security_level is not SecurityLevel.NO_AUTH_NO_PRIV and v3.auth_password is not None:
        auth_key = localize(
            password_key(v3.auth_password.get_secret_value(), hash_name), engine_id, hash_name
        )
    if v3.security_level is SecurityLevel.AUTH_PRIV and v3.priv_password is not None:
        key = localize(password_key(v3.priv_password.get_secret_value(), hash_name), engine_id, hash_name)
        needed = _AES_KEY[v3.priv_protocol]
        while len(key) < needed:  # Blumenthal key extension
            key += hashlib.new(hash_name, key).digest()
        priv_key = key[:needed]
    return LocalKeys(hash_name, mac_length, auth_key, priv_key)


@dataclass
class EngineState:
    """What we know of one authoritative engine (the device)."""

    engine_id: bytes
    boots: int
    time: int
    learned_at: float  # monotonic
    keys: LocalKeys | None = None

    def now(self, monotonic: Callable[[], float] = time.monotonic) -> tuple[int, int]:
        return self.boots, self.time + int(monotonic() - self.learned_at)


def _flags(level: SecurityLevel, reportable: bool = True) -> bytes:
    bits = {SecurityLevel.NO_AUTH_NO_PRIV: 0, SecurityLevel.AUTH_NO_PRIV: 1, SecurityLevel.AUTH_PRIV: 3}[
        level
    ]
    return bytes((bits | (4 if reportable else 0),))


def encode_message(
    *,
    message_id: int,
    user: bytes,
    level: SecurityLevel,
    engine: EngineState | None,
    pdu: bytes,
) -> bytes:
    """A v3 request. ``engine`` None (or no keys) sends a discovery probe (noAuthNoPriv, empty ids)."""
    tlv, enc_int = ber.tlv, ber.encode_int
    if engine is None:
        engine_id, boots, etime, keys, level = b"", 0, 0, None, SecurityLevel.NO_AUTH_NO_PRIV
        user = b""
    else:
        engine_id, keys = engine.engine_id, engine.keys
        boots, etime = engine.now()
    global_data = tlv(
        0x30, enc_int(message_id) + enc_int(MAX_MESSAGE_SIZE) + tlv(0x04, _flags(level)) + enc_int(3)
    )
    scoped = tlv(0x30, tlv(0x04, engine_id) + tlv(0x04, b"") + pdu)
    salt = b""
    if level is SecurityLevel.AUTH_PRIV:
        assert keys is not None and keys.priv_key is not None
        salt = os.urandom(8)
        iv = boots.to_bytes(4, "big") + etime.to_bytes(4, "big") + salt
        encryptor = Cipher(algorithms.AES(keys.priv_key), CFB(iv)).encryptor()
        msg_data = tlv(0x04, encryptor.update(scoped) + encryptor.finalize())
    else:
        msg_data = scoped
    mac_length = keys.mac_length if keys is not None and level is not SecurityLevel.NO_AUTH_NO_PRIV else 0
    placeholder = b"\x00" * mac_length
    params = tlv(
        0x30,
        tlv(0x04, engine_id)
        + enc_int(boots)
        + enc_int(etime)
        + tlv(0x04, user)
        + tlv(0x04, placeholder)
        + tlv(0x04, salt),
    )
    params_tlv = tlv(0x04, params)
    body = enc_int(3) + global_data + params_tlv + msg_data
    message = tlv(0x30, body)
    if mac_length:
        assert keys is not None and keys.auth_key is not None
        mac = hmac.new(keys.auth_key, message, keys.hash_name).digest()[:mac_length]
        # where the placeholder sits: outer header, version, global data, params header, then
        # params up to (and not including) the placeholder's last mac_length + salt TLV bytes
        at = (
            (len(message) - len(body))
            + len(enc_int(3))
            + len(global_data)
            + (len(params_tlv) - len(params))
            + (len(params) - len(tlv(0x04, salt)) - mac_length)
        )
        message = message[:at] + mac + message[at + mac_length :]
    return message


def peek_message_id(data: bytes) -> int | None:
    """The id that routes an answer to its waiter: the v3 msgID, or the v2c request-id."""
    try:
        _, pos, _ = ber.header(data, 0, 0x30)
        version, pos = ber.read_int(data, pos)
        if version == 3:
            _, pos, _ = ber.header(data, pos, 0x30)
            return ber.read_int(data, pos)[0]
        if version == 1:
            _, pos = ber.read_octets(data, pos)
            _, pos, _ = ber.header(data, pos)
            return ber.read_int(data, pos)[0]
    except (ber.BerError, IndexError):
        return None
    return None


@dataclass(frozen=True)
class Answer:
    message_id: int
    engine_id: bytes
    boots: int
    time: int
    pdu_tag: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[tuple[ber.Oid, ber.Value]]


def decode_message(data: bytes, keys_for: Callable[[bytes], LocalKeys | None]) -> Answer:
    """Read a v3 answer; authenticate and decrypt it when its flags say so (``keys_for(engine_id)``)."""
    try:
        _, pos, _ = ber.header(data, 0, 0x30)
        version, pos = ber.read_int(data, pos)
        if version != 3:
            raise UsmError("not an SNMPv3 message")
        _, pos, _ = ber.header(data, pos, 0x30)
        message_id, pos = ber.read_int(data, pos)
        _, pos = ber.read_int(data, pos)  # max size
        flags_raw, pos = ber.read_octets(data, pos)
        model, pos = ber.read_int(data, pos)
        if model != 3 or len(flags_raw) != 1:
            raise UsmError("not USM")
        flags = flags_raw[0]
        params_raw, pos = ber.read_octets(data, pos)
        params_start = pos - len(params_raw)
        _, p, _ = ber.header(params_raw, 0, 0x30)
        engine_id, p = ber.read_octets(params_raw, p)
        boots, p = ber.read_int(params_raw, p)
        etime, p = ber.read_int(params_raw, p)
        _, p = ber.read_octets(params_raw, p)  # user
        _, mac_start, mac_length = ber.header(params_raw, p, 0x04)
        mac = params_raw[mac_start : mac_start + mac_length]
        salt, p = ber.read_octets(params_raw, mac_start + mac_length)
        keys = keys_for(engine_id) if flags & 1 else None
        if flags & 1:
            if keys is None or keys.auth_key is None or mac_length != keys.mac_length:
                raise UsmError("authenticated answer without matching keys")
            absolute = params_start + mac_start
            blanked = data[:absolute] + b"\x00" * mac_length + data[absolute + mac_length :]
            expected = hmac.new(keys.auth_key, blanked, keys.hash_name).digest()[:mac_length]
            if not hmac.compare_digest(mac, expected):
                raise UsmError("answer failed authentication")
        if flags & 2:
            assert keys is not None
            if keys.priv_key is None or len(salt) != 8:
                raise UsmError("encrypted answer without a privacy key")
            encrypted, _ = ber.read_octets(data, pos)
            iv = boots.to_bytes(4, "big") + etime.to_bytes(4, "big") + salt
            decryptor = Cipher(algorithms.AES(keys.priv_key), CFB(iv)).decryptor()
            scoped = decryptor.update(encrypted) + decryptor.finalize()
            spos = 0
        else:
            scoped, spos = data, pos
        _, spos, _ = ber.header(scoped, spos, 0x30)
        _, spos = ber.read_octets(scoped, spos)  # contextEngineID
        _, spos = ber.read_octets(scoped, spos)  # contextName
        tag, request_id, status, index, varbinds = ber.decode_pdu(scoped, spos)
    except (ber.BerError, IndexError, OverflowError) as err:
        raise UsmError(f"unreadable v3 answer: {err}") from None
    return Answer(message_id, engine_id, boots, etime, tag, request_id, status, index, varbinds)
