"""HTTP(S) checks: status, latency and, over verified TLS, when the server's certificate expires.

Each check is one GET on a new connection (``agent.httpclient``, not aiohttp), so the TLS handshake and the
certificate are seen every time; redirects are not followed (a 301 is the answer to compare with
``expect_status``). The certificate's expiry is read from that same connection.

The URL is reported as :func:`agent.redact.redact_url` gives it: a ``user:password@`` (Basic authentication)
and tokens in the query are used for the request, never reported (the ``url`` becomes a label on the
collector's ``/metrics``).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from typing import Any

from agent import __version__
from agent.config import HttpCheckConfig
from agent.httpclient import Origin, ProtocolError, connect, exchange
from agent.redact import redact_url
from agent.report import without_none

HttpCheck = dict[str, Any]  # wire.HttpCheck

_HEADERS = {"User-Agent": f"wardwatch-agent/{__version__}", "Accept": "*/*", "Connection": "close"}


def _describe(err: BaseException) -> str:
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {err.verify_message or err}"
    if isinstance(err, TimeoutError):
        return "timed out"
    return f"{type(err).__name__}: {err}"


def _unverified_context() -> ssl.SSLContext:
    """``verify_tls: false``: encrypt, but accept any certificate (and report no expiry)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class HttpProber:
    """Runs the configured HTTP checks; one SSL context per distinct trust setting (each holds its CA store)."""

    def __init__(self, checks: Sequence[HttpCheckConfig], *, timeout_seconds: float) -> None:
        self._checks = checks
        self._timeout = timeout_seconds
        by_trust: dict[tuple[bool, str | None], ssl.SSLContext] = {}
        self._contexts: dict[str, ssl.SSLContext | None] = {}
        self._shown = {check.name: redact_url(check.url) for check in checks}  # what reports carry
        for check in checks:
            if not check.url.startswith("https://"):
                self._contexts[check.name] = None
                continue
            cafile = str(check.ca_file) if check.ca_file else None
            key = (check.verify_tls, cafile if check.verify_tls else None)
            if key not in by_trust:
                by_trust[key] = (
                    ssl.create_default_context(cafile=cafile) if check.verify_tls else _unverified_context()
                )
            self._contexts[check.name] = by_trust[key]

    async def close(self) -> None:
        """Nothing stays open between checks; kept so the owner can treat every probe alike."""

    async def check_all(self) -> list[HttpCheck]:
        return list(await asyncio.gather(*(self.check(c) for c in self._checks)))

    async def check(self, check: HttpCheckConfig) -> HttpCheck:
        started = time.perf_counter()
        conn = None
        try:
            origin = Origin.parse(check.url)
            async with asyncio.timeout(self._timeout):
                conn = await connect(
                    origin, ssl_context=self._contexts[check.name], timeout_seconds=self._timeout
                )
                # The whole body is read (and thrown away): the latency covers the complete answer.
                resp, _ = await exchange(conn, "GET", origin.target, _HEADERS, keep=0, drain_limit=None)
        except (TimeoutError, OSError, ValueError, ProtocolError) as err:
            if conn is not None:
                conn.abort()
            return {"name": check.name, "url": self._shown[check.name], "up": False, "error": _describe(err)}
        except BaseException:
            if conn is not None:
                conn.abort()
            raise
        duration = time.perf_counter() - started
        await conn.close()
        expiry = None
        if check.verify_tls and resp.peercert and "notAfter" in resp.peercert:
            expiry = float(ssl.cert_time_to_seconds(resp.peercert["notAfter"]))
        status = resp.status
        return without_none(
            name=check.name,
            url=self._shown[check.name],
            up=status == check.expect_status,
            status_code=status,
            duration_seconds=duration,
            tls_cert_expiry_seconds=expiry,
            error=None if status == check.expect_status else f"expected status {check.expect_status}",
        )
