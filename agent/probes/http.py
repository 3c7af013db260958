"""HTTP(S) checks: status, latency and, over verified TLS, when the server's certificate expires."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from urllib.parse import urlsplit

import aiohttp

from agent.settings import HttpCheckConfig
from agent.wire import HttpCheck

log = logging.getLogger(__name__)


def _describe(err: BaseException) -> str:
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        cert_err = err.certificate_error
        return f"TLS certificate not trusted: {getattr(cert_err, 'verify_message', None) or cert_err}"
    if isinstance(err, TimeoutError):
        return "timed out"
    return f"{type(err).__name__}: {err}"


class HttpProber:
    """Owns one ClientSession for all HTTP checks; a new connection per check so TLS is seen every time."""

    def __init__(self, checks: list[HttpCheckConfig], *, timeout_seconds: float) -> None:
        self._checks = checks
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._contexts: dict[str, ssl.SSLContext | bool] = {}
        for check in checks:
            if not check.verify_tls:
                self._contexts[check.name] = False
            else:
                cafile = str(check.ca_file) if check.ca_file else None
                self._contexts[check.name] = ssl.create_default_context(cafile=cafile)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def check_all(self) -> list[HttpCheck]:
        if not self._checks:
            return []
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True), timeout=self._timeout
            )
        return list(await asyncio.gather(*(self.check(c) for c in self._checks)))

    async def check(self, check: HttpCheckConfig) -> HttpCheck:
        assert self._session is not None
        started = time.perf_counter()
        expiry = None
        try:
            async with self._session.get(
                check.url, ssl=self._contexts[check.name], allow_redirects=False
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as err:
            return HttpCheck(name=check.name, url=check.url, up=False, error=_describe(err))
        duration = time.perf_counter() - started
        context = self._contexts[check.name]
        if isinstance(context, ssl.SSLContext) and check.url.startswith("https://"):
            try:
                async with asyncio.timeout(self._timeout.total):
                    expiry = await _cert_expiry(check.url, context)
            except (TimeoutError, OSError, ValueError) as err:
                log.warning("http check %s: could not read the TLS certificate: %s", check.name, err)
        return HttpCheck(
            name=check.name,
            url=check.url,
            up=status == check.expect_status,
            status_code=status,
            duration_seconds=duration,
            tls_cert_expiry_seconds=expiry,
            error=None if status == check.expect_status else f"expected status {check.expect_status}",
        )


async def _cert_expiry(url: str, context: ssl.SSLContext) -> float | None:
    """The leaf certificate's notAfter, from a TLS handshake of our own with the same trust settings.

    aiohttp releases the connection (and its SSL object) as soon as a short body has arrived, so the
    response cannot be relied on to still hold the peer certificate.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    _, writer = await asyncio.open_connection(host, parts.port or 443, ssl=context, server_hostname=host)
    try:
        cert = writer.get_extra_info("peercert")
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not cert or "notAfter" not in cert:
        return None
    return float(ssl.cert_time_to_seconds(cert["notAfter"]))
