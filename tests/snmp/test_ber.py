"""The v2c BER codec against pyasn1 (pysnmp's encoder/decoder) and against real snmpd."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from collector.snmp import ber
from collector.snmp.client import SnmpClient, to_value
from collector.snmp.poller import make_target, poll_once
from collector.snmp.profiles import load_profiles
from collector.snmp.settings import SnmpSettings
from tests.snmp.conftest import Snmpd

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

oids = st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=1, max_size=20).map(
    lambda t: (1, 3, *t)
)


def _response(request_id: int, varbinds: list) -> bytes:
    pdu = V2C.ResponsePDU()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_request_id(pdu, request_id)
    V2C.apiPDU.set_varbinds(pdu, varbinds)
    msg = V2C.Message()
    V2C.apiMessage.set_defaults(msg)
    V2C.apiMessage.set_community(msg, "community")
    V2C.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


@given(
    oid=oids,
    integer=st.integers(-(2**31), 2**31 - 1),
    counter=st.integers(0, 2**64 - 1),
    text=st.text(max_size=300),
)
def test_decodes_what_pyasn1_encodes(oid: tuple[int, ...], integer: int, counter: int, text: str) -> None:
    data = _response(
        4242,
        [
            (oid, V2C.Integer(integer)),
            ((*oid, 1), V2C.Counter64(counter)),
            ((*oid, 2), V2C.OctetString(text.encode())),
            ((*oid, 3), V2C.ObjectIdentifier(oid)),
            ((*oid, 4), V2C.IpAddress("10.1.2.3")),
            ((*oid, 5), api.v2c.NoSuchInstance("")),
            ((*oid, 6), api.v2c.EndOfMibView("")),
        ],
    )
    request_id, status, index, varbinds = ber.decode_response(data)
    assert (request_id, status, index) == (4242, 0, 0)
    assert [o for o, _ in varbinds] == [oid, *((*oid, i) for i in range(1, 7))]
    values = [v for _, v in varbinds]
    assert values[0] == integer and values[1] == counter
    assert values[2] == to_value(V2C.OctetString(text.encode()))  # the same text as the pysnmp path
    assert values[3] == ".".join(map(str, oid))
    assert values[4:] == ["10.1.2.3", None, ber.END_OF_MIB]


@given(
    oid_list=st.lists(oids, min_size=1, max_size=30),
    request_id=st.integers(0, 2**31 - 1),
    reps=st.integers(0, 200),
)
def test_requests_decode_with_pyasn1(oid_list: list[tuple[int, ...]], request_id: int, reps: int) -> None:
    data = ber.encode_request(b"c0mm", ber.GETBULK, request_id, oid_list, max_repetitions=reps)
    msg, rest = decoder.decode(data, asn1Spec=V2C.Message())
    assert rest == b""
    pdu = V2C.apiMessage.get_pdu(msg)
    assert int(V2C.apiPDU.get_request_id(pdu)) == request_id
    assert int(V2C.apiBulkPDU.get_max_repetitions(pdu)) == reps
    assert [tuple(o) for o, _ in V2C.apiPDU.get_varbinds(pdu)] == oid_list
    assert str(V2C.apiMessage.get_community(msg)) == "c0mm"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x05\x02\x01\x00\x04\x00",
        b"\x30\x84\xff\xff\xff\xff",
        bytes(range(64)),
        b"\x30\x03\x02\x01\x01",
    ],
)
def test_malformed_responses_raise_ber_error(data: bytes) -> None:
    with pytest.raises(ber.BerError):
        ber.decode_response(data)


async def test_fast_path_and_pysnmp_path_agree_on_snmpd(snmpd: Snmpd) -> None:
    profiles = [load_profiles()[n] for n in ("system", "interfaces", "host-resources")]
    target = make_target(snmpd.device(), SnmpSettings())
    fast, slow = SnmpClient(), SnmpClient(fast_v2c=False)
    try:
        a = await poll_once(fast, target, profiles)
        b = await poll_once(slow, target, profiles)
    finally:
        fast.close()
        slow.close()
    assert a.rows == b.rows
    assert a.info == b.info
    assert set(a.samples) == set(b.samples)
    steady = {
        "wardwatch_snmp_if_admin_status",
        "wardwatch_snmp_if_oper_status",
        "wardwatch_snmp_hr_storage_size_bytes",
    }
    assert {k: v for k, v in a.samples.items() if k[0] in steady} == {
        k: v for k, v in b.samples.items() if k[0] in steady
    }
