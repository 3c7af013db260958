"""Deliver reports to the collectors: gzip JSON over HTTP(S), failover, backoff, spool and replay.

Requests go through ``agent.httpclient`` (asyncio streams, one keep-alive connection per collector), not
aiohttp: importing aiohttp would add a quarter to the agent's resident memory.

Responses are classified once, here: 2xx sent; 400, 401, 403, 413 and 422 rejected for good (the report is
dropped, the collector's ``{"error": ...}`` logged); everything else (429, 5xx, other statuses, connection and
TLS failures) means "try the next collector", and when every collector fails the report is spooled.
"""

from __future__ import annotations

import asyncio
import enum
import gzip
import json
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable

from agent import __version__
from agent.backoff import backoff_seconds
from agent.config import AgentConfig
from agent.httpclient import Client, ProtocolError
from agent.redact import redact_url
from agent.report import Report, to_json_bytes
from agent.spool import Spool

log = logging.getLogger(__name__)

REPORTS_PATH = "/api/v1/reports"
PERMANENT_STATUSES = frozenset({400, 401, 403, 413, 422})


class Outcome(enum.Enum):
    SENT = "sent"
    REJECTED = "rejected"  # permanent for this report: do not retry, do not spool
    FAILED = "failed"  # retryable: another collector, later, or the spool


def make_ssl_context(settings: AgentConfig) -> ssl.SSLContext:
    """Verify collectors against the configured CA bundle; never an unverified fallback."""
    tls = settings.tls
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.client_cert_file is not None:
        context.load_cert_chain(
            str(tls.client_cert_file), str(tls.client_key_file) if tls.client_key_file else None
        )
    return context


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return str(data)[:200]


def _describe(err: BaseException) -> str:
    if isinstance(err, ssl.SSLCertVerificationError):
        why = err.verify_message or str(err)
        return f"refusing to send: its TLS certificate is not trusted ({why})"
    if isinstance(err, ssl.SSLError):
        return f"refusing to send: TLS failed ({err})"
    if isinstance(err, TimeoutError):
        return "timed out"
    return f"{type(err).__name__}: {err}"


class Sender:
    """Owns the connections to the collectors: ``await close()`` when done."""

    def __init__(
        self,
        settings: AgentConfig,
        spool: Spool,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not settings.token:
            raise ValueError("a token is needed to send reports")
        self._collectors = list(settings.collectors)
        self._good = 0  # index of the collector that answered last
        self._headers = {
            "Authorization": f"Bearer {settings.token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": f"wardwatch-agent/{__version__}",
        }
        self._retry = settings.retry
        self._send_seconds = settings.timeouts.send_seconds
        self._connect_seconds = settings.timeouts.connect_seconds
        needs_tls = any(url.startswith("https://") for url in self._collectors)
        self._ssl = make_ssl_context(settings) if needs_tls else None
        self._client = Client()
        self._spool = spool
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def close(self) -> None:
        await self._client.close()

    @property
    def preferred_collector(self) -> str:
        return self._collectors[self._good]

    async def deliver(self, report: Report) -> Outcome:
        """Send a fresh report (retrying with backoff), spool it if no collector takes it, then replay.

        While the spool holds older reports, the fresh one joins the end of the spool first, so the
        collector always receives one host's reports in order.
        """
        if self._spool.pending(now=self._clock()):
            self._spool.put(report, now=self._clock())
            await self.drain()
            return Outcome.SENT if not self._spool.pending(now=self._clock()) else Outcome.FAILED
        outcome = Outcome.FAILED
        for attempt in range(self._retry.attempts):
            if attempt:
                await self._sleep(
                    backoff_seconds(
                        attempt,
                        base_seconds=self._retry.backoff_base_seconds,
                        max_seconds=self._retry.backoff_max_seconds,
                        rng=self._rng,
                    )
                )
            outcome = await self._send_once(report)
            if outcome is not Outcome.FAILED:
                break
        if outcome is Outcome.FAILED:
            log.warning("no collector took report seq=%d: spooled", report["seq"])
            self._spool.put(report, now=self._clock())
        return outcome

    def keep(self, report: Report) -> None:
        """Spool ``report`` without trying to send it (the agent is stopping)."""
        self._spool.put(report, now=self._clock())

    async def drain(self) -> int:
        """Replay spooled reports oldest first until one fails; returns how many left the spool."""
        done = 0
        for entry in self._spool.pending(now=self._clock()):
            report = self._spool.load(entry)
            if report is None:
                continue
            outcome = await self._send_once(report)
            if outcome is Outcome.FAILED:
                break
            self._spool.remove(entry)
            done += 1
        if done:
            log.info("replayed %d spooled report(s)", done)
        return done

    async def _send_once(self, report: Report) -> Outcome:
        """One try at every collector, starting with the last one that answered."""
        n = len(self._collectors)
        for i in range(n):
            index = (self._good + i) % n
            fresh = {**report, "sent_at": self._clock()}
            body = gzip.compress(to_json_bytes(fresh), compresslevel=6)
            outcome = await self._post(self._collectors[index], body, report["seq"])
            if outcome is not Outcome.FAILED:
                self._good = index
                return outcome
        return Outcome.FAILED

    async def _post(self, base_url: str, body: bytes, seq: int) -> Outcome:
        url = base_url + REPORTS_PATH
        shown = redact_url(base_url)  # for logs: no user:password@
        try:
            resp = await self._client.request(
                "POST",
                url,
                headers=self._headers,
                body=body,
                ssl_context=self._ssl,
                connect_timeout=self._connect_seconds,
                total_timeout=self._send_seconds,
                keep=4096,
            )
        except (TimeoutError, OSError, ProtocolError, ValueError) as err:
            log.warning("collector %s: %s", shown, _describe(err))
            return Outcome.FAILED
        status, answer = resp.status, resp.body
        if 200 <= status < 300:
            log.debug("collector %s took report seq=%d", shown, seq)
            return Outcome.SENT
        message = _error_message(answer)
        if status in (401, 403):
            log.error(
                "collector %s refused this agent's token (HTTP %d: %s): check the token in the agent's config",
                shown,
                status,
                message,
            )
            return Outcome.REJECTED
        if status in PERMANENT_STATUSES:
            log.error(
                "collector %s rejected report seq=%d (HTTP %d: %s): dropped", shown, seq, status, message
            )
            return Outcome.REJECTED
        log.warning("collector %s answered HTTP %d (%s): trying elsewhere", shown, status, message)
        return Outcome.FAILED
