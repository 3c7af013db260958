"""Configured checks against real local things: a TCP listener, aiohttp servers (HTTP and HTTPS), a folder."""

import asyncio
import base64
import os
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from agent.config import FileCheckConfig, HttpCheckConfig, PortCheckConfig
from agent.probes.blocking import BlockingCalls, StillRunning
from agent.probes.files import check_files
from agent.probes.http import HttpProber
from agent.probes.ports import check_port
from agent.wire import FileCheck, HttpCheck, PortCheck
from tests.agent.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


async def test_port_check_open_and_closed() -> None:
    accepted = asyncio.Event()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        up = PortCheck.model_validate(
            await check_port(PortCheckConfig(name="db", target=f"127.0.0.1:{port}"), timeout_seconds=2)
        )
        await asyncio.wait_for(accepted.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()
    assert up.up and up.error is None
    assert 0 < up.connect_seconds < 2

    closed = free_port()
    down = PortCheck.model_validate(
        await check_port(PortCheckConfig(name="db", target=f"127.0.0.1:{closed}"), timeout_seconds=2)
    )
    assert not down.up and down.connect_seconds is None
    assert down.error


def _app(status: int = 200) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok", status=status)

    app = web.Application()
    app.router.add_get("/health", health)
    return app


async def test_http_check_status_and_latency(aiohttp_server) -> None:
    ok = await aiohttp_server(_app(200))
    broken = await aiohttp_server(_app(503))
    prober = HttpProber(
        [
            HttpCheckConfig(name="portal", url=str(ok.make_url("/health"))),
            HttpCheckConfig(name="pacs", url=str(broken.make_url("/health"))),
            HttpCheckConfig(name="gone", url=f"http://127.0.0.1:{free_port()}/health"),
        ],
        timeout_seconds=3,
    )
    try:
        portal, pacs, gone = map(HttpCheck.model_validate, await prober.check_all())
    finally:
        await prober.close()
    assert portal.up and portal.status_code == 200 and 0 < portal.duration_seconds < 3
    assert portal.tls_cert_expiry_seconds is None
    assert not pacs.up and pacs.status_code == 503 and "expected status 200" in pacs.error
    assert not gone.up and gone.status_code is None and gone.error


async def test_http_check_uses_credentials_but_reports_and_errs_without_them(aiohttp_server) -> None:
    async def health(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        ok = (
            auth == "Basic " + base64.b64encode(b"monitor:pw-9f2").decode() and request.query["key"] == "k-77"
        )
        return web.Response(text="ok", status=200 if ok else 401)

    app = web.Application()
    app.router.add_get("/health", health)
    server = await aiohttp_server(app)
    prober = HttpProber(
        [
            HttpCheckConfig(name="emr", url=f"http://monitor:pw-9f2@127.0.0.1:{server.port}/health?key=k-77"),
            HttpCheckConfig(
                name="gone", url=f"http://monitor:pw-9f2@127.0.0.1:{free_port()}/health?key=k-77"
            ),
            HttpCheckConfig(name="typo", url="http://monitor:pw-9f2@[::1/health?key=k-77"),
        ],
        timeout_seconds=3,
    )
    try:
        checks = await prober.check_all()
    finally:
        await prober.close()
    emr, gone, typo = map(HttpCheck.model_validate, checks)
    assert emr.up and emr.status_code == 200  # Basic authentication and the key were sent
    assert emr.url == f"http://127.0.0.1:{server.port}/health?key=REDACTED"
    assert not gone.up and gone.error and gone.url.startswith("http://127.0.0.1:")
    assert not typo.up and typo.error
    assert "pw-9f2" not in repr(checks) and "k-77" not in repr(checks)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def test_https_check_reads_certificate_expiry(aiohttp_server, ca: trustme.CA, tmp_path: Path) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=42, hours=12)
    leaf = ca.issue_cert("127.0.0.1", not_after=not_after)
    leaf.configure_cert(server_ctx)
    server = await aiohttp_server(_app(200), ssl=server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    url = str(server.make_url("/health"))
    assert url.startswith("https://")
    prober = HttpProber(
        [
            HttpCheckConfig(name="trusted", url=url, ca_file=ca_file),
            HttpCheckConfig(name="untrusted", url=url),  # system store: does not know the test CA
            HttpCheckConfig(name="unverified", url=url, verify_tls=False),
        ],
        timeout_seconds=3,
    )
    try:
        trusted, untrusted, unverified = map(HttpCheck.model_validate, await prober.check_all())
    finally:
        await prober.close()
    assert trusted.up and trusted.status_code == 200
    assert trusted.tls_cert_expiry_seconds == not_after.timestamp()
    days_left = (trusted.tls_cert_expiry_seconds - time.time()) / 86400
    assert 42 < days_left < 43
    assert not untrusted.up and "certificate" in untrusted.error.lower()
    assert unverified.up and unverified.tls_cert_expiry_seconds is None


async def test_file_check_finds_newest_backup(tmp_path: Path) -> None:
    now = time.time()
    for name, age_hours, size in [
        ("a.dump", 50, 300),
        ("b.dump", 26, 1000),
        ("c.dump", 2, 400),
        ("x.log", 1, 9),
    ]:
        path = tmp_path / name
        path.write_bytes(b"\0" * size)
        os.utime(path, (now - age_hours * 3600, now - age_hours * 3600))
    result = FileCheck.model_validate(
        await check_files(
            FileCheckConfig(name="his-backup", glob=str(tmp_path / "*.dump")), timeout_seconds=5
        )
    )
    assert result.files == 3
    assert result.newest_size_bytes == 400
    assert result.previous_size_bytes == 1000
    assert abs((now - result.newest_mtime_seconds) - 2 * 3600) < 5
    assert result.error is None


async def test_file_check_with_no_match_reports_zero_files(tmp_path: Path) -> None:
    result = FileCheck.model_validate(
        await check_files(FileCheckConfig(name="b", glob=str(tmp_path / "none-*.dump")), timeout_seconds=5)
    )
    assert result.files == 0 and result.newest_mtime_seconds is None and result.error is None


async def test_a_hung_call_times_out_and_is_not_started_again_until_it_returns() -> None:
    release = threading.Event()
    started = []

    def stuck() -> str:
        started.append(1)
        release.wait(30)  # bounded: the test releases it below
        return "done"

    calls = BlockingCalls()
    with pytest.raises(TimeoutError):
        await calls.run("statvfs:/mnt/nfs", 0.05, stuck)
    with pytest.raises(StillRunning):
        await calls.run("statvfs:/mnt/nfs", 0.05, stuck)
    assert started == [1]  # no second thread piled up behind the stuck one
    assert await calls.run("statvfs:/", 5, lambda: "other keys still run") == "other keys still run"
    release.set()
    await calls.wait_idle("statvfs:/mnt/nfs")
    assert not calls.busy("statvfs:/mnt/nfs")
    assert await calls.run("statvfs:/mnt/nfs", 5, stuck) == "done"
    assert started == [1, 1]


def test_a_thread_stuck_forever_does_not_keep_the_agent_from_exiting() -> None:
    script = (
        "import asyncio, threading\n"
        "from agent.probes.blocking import BlockingCalls\n"
        "async def main():\n"
        "    try:\n"
        "        await BlockingCalls().run('statvfs:/mnt/dead-nfs', 0.05, threading.Event().wait)\n"
        "    except TimeoutError:\n"
        "        print('timed out')\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, cwd=ROOT, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "timed out"), done.stderr
