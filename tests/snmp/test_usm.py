"""USM pieces: key derivation against RFC 3414's worked example and pysnmp, and message round trips."""

from __future__ import annotations

import time

import pytest
from pyasn1.type import univ
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine  # loads pysnmp's protocol modules in a working order
from pysnmp.proto.secmod.eso.priv import aes192, aes256
from pysnmp.proto.secmod.rfc3414 import localkey
from pysnmp.proto.secmod.rfc3414.auth import hmacsha

from collector.snmp import ber, usm
from collector.snmp.inventory import V3Credentials

ENGINE = bytes.fromhex("000000000000000000000002")
assert SnmpEngine


def test_password_to_key_matches_rfc_3414_a_3_2() -> None:
    ku = usm.password_key("maplesyrup", "sha1")
    assert ku.hex() == "9fb5cc0381497b3793528939ff788d5d79145211"
    assert usm.localize(ku, ENGINE, "sha1").hex() == "6695febc9288e36282235fc7151f128497b38f3f"


@pytest.mark.parametrize("hash_name", ["sha224", "sha256", "sha384", "sha512"])
def test_sha2_keys_match_pysnmp(hash_name: str) -> None:
    algo = getattr(__import__("hashlib"), hash_name)
    theirs = localkey.password_to_key("maplesyrup", univ.OctetString(ENGINE), algo).asOctets()
    assert usm.localize(usm.password_key("maplesyrup", hash_name), ENGINE, hash_name) == theirs


@pytest.mark.parametrize(
    ("priv", "cls"), [("AES-192", aes192.AesBlumenthal192), ("AES-256", aes256.AesBlumenthal256)]
)
def test_aes_key_extension_matches_pysnmp_blumenthal(priv: str, cls: type) -> None:
    creds = V3Credentials.model_validate(
        {
            "user": "u",
            "auth_protocol": "SHA",
            "auth_password": "auth-pass-1",
            "priv_protocol": priv,
            "priv_password": "priv-pass-1",
        }
    )
    ours = usm.local_keys(creds, ENGINE).priv_key
    ku = localkey.hash_passphrase("priv-pass-1", __import__("hashlib").sha1).asOctets()
    theirs = bytes(cls().localize_key(hmacsha.HmacSha.SERVICE_ID, ku, univ.OctetString(ENGINE)))
    assert ours == theirs


@pytest.mark.parametrize("level", ["noAuthNoPriv", "authNoPriv", "authPriv"])
def test_messages_round_trip_and_tampering_is_caught(level: str) -> None:
    creds = V3Credentials.model_validate(
        {
            "user": "wardwatch",
            "security_level": level,
            "auth_protocol": "SHA-384",
            "auth_password": "auth-pass-1",
            "priv_protocol": "AES-256",
            "priv_password": "priv-pass-1",
        }
    )
    engine = usm.EngineState(
        ENGINE, boots=7, time=1234, learned_at=time.monotonic(), keys=usm.local_keys(creds, ENGINE)
    )
    pdu = ber.encode_pdu(ber.RESPONSE, 99, [(1, 3, 6, 1, 2, 1, 1, 3, 0), (1, 3, 6, 1, 2, 1, 1, 5, 0)])
    message = usm.encode_message(
        message_id=99, user=b"wardwatch", level=creds.security_level, engine=engine, pdu=pdu
    )
    assert usm.peek_message_id(message) == 99
    answer = usm.decode_message(message, lambda e: engine.keys if e == ENGINE else None)
    assert (answer.message_id, answer.request_id, answer.engine_id, answer.boots) == (99, 99, ENGINE, 7)
    assert [o for o, _ in answer.varbinds] == [(1, 3, 6, 1, 2, 1, 1, 3, 0), (1, 3, 6, 1, 2, 1, 1, 5, 0)]
    if level != "noAuthNoPriv":
        tampered = bytearray(message)
        tampered[-3] ^= 0x01
        with pytest.raises(usm.UsmError):
            usm.decode_message(bytes(tampered), lambda e: engine.keys)
        with pytest.raises(usm.UsmError):
            usm.decode_message(message, lambda e: None)
    if level == "authPriv":
        assert b"\x2b\x06\x01\x02\x01\x01\x05\x00" not in message  # the OID is encrypted


def test_garbage_is_not_a_message() -> None:
    for data in (b"", b"\x30\x03\x02\x01\x03", bytes(100)):
        with pytest.raises(usm.UsmError):
            usm.decode_message(data, lambda e: None)
        assert usm.peek_message_id(data) is None
