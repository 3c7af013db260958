"""HTTPS between agent and collector, with a CA the test makes itself."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
import trustme
from prometheus_client import CollectorRegistry

from collector.app import create_app
from collector.commands import server_ssl_context
from collector.settings import HttpSettings
from tests.collector.conftest import auth, gz, make_settings, report_dict


@pytest.fixture
def ca(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return ca


async def start(aiohttp_server, tmp_path, fake_clock, **http):
    settings = make_settings(
        http={"tls_cert_file": tmp_path / "server.pem", "tls_key_file": tmp_path / "server.pem", **http}
    )
    ctx = server_ssl_context(settings.http)
    assert ctx is not None
    app = create_app(settings, clock=fake_clock, registry=CollectorRegistry())
    return await aiohttp_server(app, host="127.0.0.1", ssl=ctx)


async def test_agent_trusting_the_ca_reports_over_https(aiohttp_server, tmp_path, ca, fake_clock):
    server = await start(aiohttp_server, tmp_path, fake_clock)
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    async with aiohttp.ClientSession() as s:
        url = f"https://127.0.0.1:{server.port}/api/v1/reports"
        async with s.post(url, data=gz(report_dict()), headers=auth(), ssl=client_ctx) as resp:
            assert resp.status == 200


async def test_client_without_the_ca_refuses_the_collector(aiohttp_server, tmp_path, ca, fake_clock):
    server = await start(aiohttp_server, tmp_path, fake_clock)
    untrusting = ssl.create_default_context()  # system CAs only
    async with aiohttp.ClientSession() as s:
        url = f"https://127.0.0.1:{server.port}/healthz"
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as err:
            await s.get(url, ssl=untrusting)
    assert "certificate verify failed" in str(err.value)


async def test_mutual_tls_requires_a_client_certificate(aiohttp_server, tmp_path, ca, fake_clock):
    server = await start(aiohttp_server, tmp_path, fake_clock, tls_client_ca_file=tmp_path / "ca.pem")
    url = f"https://127.0.0.1:{server.port}/healthz"
    without = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):
            async with s.get(url, ssl=without) as resp:
                await resp.read()
        with_cert = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        ca.issue_cert("his-db-01").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
        with_cert.load_cert_chain(str(tmp_path / "client.pem"))
        async with s.get(url, ssl=with_cert) as resp:
            assert resp.status == 200


def test_cert_without_key_is_a_config_error():
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file go together"):
        HttpSettings(tls_cert_file="/x.pem")
