"""HTTP(S) checks: status, latency and, over verified TLS, when the server's certificate expires."""

from __future__ import annotations

import asyncio
import ssl
import time

import aiohttp

from agent.settings import HttpCheckConfig
from agent.wire import HttpCheck


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
                expiry = _cert_expiry(resp)
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as err:
            return HttpCheck(name=check.name, url=check.url, up=False, error=_describe(err))
        return HttpCheck(
            name=check.name,
            url=check.url,
            up=status == check.expect_status,
            status_code=status,
            duration_seconds=time.perf_counter() - started,
            tls_cert_expiry_seconds=expiry,
            error=None if status == check.expect_status else f"expected status {check.expect_status}",
        )


def _cert_expiry(resp: aiohttp.ClientResponse) -> float | None:
    """The leaf certificate's notAfter; only a verified connection exposes the parsed certificate."""
    conn = resp.connection
    transport = conn.transport if conn is not None else None
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert or "notAfter" not in cert:
        return None
    return float(ssl.cert_time_to_seconds(cert["notAfter"]))
