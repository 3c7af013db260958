"""Deliver reports to the collectors: gzip JSON over HTTP(S), failover, backoff, spool and replay.

Requests go through ``agent.httpclient`` (asyncio streams, one keep-alive connection per collector), not
aiohttp: importing aiohttp would add a quarter to the agent's resident memory.

Responses are classified once, here (``_post``):

- 2xx: sent.
- 400, 413, 422: this report is invalid or too big: it is dropped (logged with the collector's
  ``{"error": ...}``), never retried or spooled, and a replay goes on with the next one.
- 401, 403: the collector refused the agent's token. That is a configuration problem (the agent's token, or
  the collector's ``agents`` entry), not the report's: the report is kept (spooled), a replay stops, the
  collector is left alone for a while (``_AuthBackoff``) and the next collector is tried.
- Everything else (429, 5xx, other statuses, connection and TLS failures): try the next collector; when none
  takes a report, it is spooled.

Order: a fresh report is always sent first, then the spool is replayed oldest first. The collector keeps the
fresh report as the host's current values and the replayed ones as late (in its window, for rates and
history), so a replay after an outage never shows old values as current.
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
INVALID_STATUSES = frozenset({400, 413, 422})  # this report: dropped
REFUSED_STATUSES = frozenset({401, 403})  # this agent's token: kept, and the collector left alone a while
AUTH_BACKOFF_MAX_SECONDS = 300.0  # the longest pause for a collector that refuses the token


class Outcome(enum.Enum):
    SENT = "sent"
    REJECTED = "rejected"  # this report is invalid: dropped, not retried, not spooled
    REFUSED = "refused"  # every collector tried refused the agent's token: spooled, collectors backed off
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


class _AuthBackoff:
    """Per collector: after a 401/403, the time before which it is not asked again (doubling, capped)."""

    def __init__(self, first_seconds: float) -> None:
        self._first = max(1.0, first_seconds)
        self._refusals: dict[int, int] = {}
        self._until: dict[int, float] = {}

    def waiting(self, index: int, now: float) -> bool:
        left = self._until.get(index, 0.0) - now
        return 0 < left <= AUTH_BACKOFF_MAX_SECONDS  # a pause longer than any: the clock stepped back

    def refused(self, index: int, now: float) -> float:
        """Note a refusal; returns how long the collector is now left alone."""
        n = self._refusals[index] = self._refusals.get(index, 0) + 1
        pause = min(AUTH_BACKOFF_MAX_SECONDS, self._first * 2 ** min(n - 1, 20))
        self._until[index] = now + pause
        return pause

    def answered(self, index: int) -> None:
        self._refusals.pop(index, None)
        self._until.pop(index, None)


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
        self._shown = [redact_url(url) for url in self._collectors]  # for logs: no user:password@
        self._good = 0  # index of the collector that answered last
        self._headers = {
            "Authorization": f"Bearer {settings.token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": f"wardwatch-agent/{__version__}",
        }
        self._host = settings.host
        self._retry = settings.retry
        self._auth_backoff = _AuthBackoff(settings.retry.backoff_max_seconds)
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

    async def deliver(self, report: Report, *, interrupted: Callable[[], bool] | None = None) -> Outcome:
        """Send a fresh report, spool it if no collector takes it, else replay the spool after it.

        The fresh report goes first, so that the collector has the host's current values before the replay
        brings older ones (which it keeps as late). With an empty spool it gets ``retry.attempts`` rounds
        with backoff; while the spool holds reports (an outage) one round, so each cycle costs one attempt.
        ``interrupted``: the replay stops when it says so (a newer report is waiting to go first).
        """
        backlog = bool(self._spool.pending(now=self._clock()))
        outcome = Outcome.FAILED
        for attempt in range(1 if backlog else self._retry.attempts):
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
        elif outcome is Outcome.REFUSED:
            log.warning("report seq=%d spooled: the collectors refuse this agent's token", report["seq"])
            self._spool.put(report, now=self._clock())
        elif backlog:
            await self.drain(interrupted=interrupted)
        return outcome

    def keep(self, report: Report) -> None:
        """Spool ``report`` without trying to send it (the agent is stopping)."""
        self._spool.put(report, now=self._clock())

    async def drain(self, *, interrupted: Callable[[], bool] | None = None) -> int:
        """Replay spooled reports oldest first until one cannot be delivered (kept, with the rest) or
        ``interrupted()``; returns how many the collectors took. A report a collector finds invalid (400,
        413) is dropped and the replay goes on; a refused token (401, 403) keeps the spool as it is."""
        sent = dropped = 0
        for entry in self._spool.pending(now=self._clock()):
            if interrupted is not None and interrupted():
                break
            report = self._spool.load(entry)
            if report is None:
                continue
            outcome = await self._send_once(report)
            if outcome in (Outcome.FAILED, Outcome.REFUSED):
                break
            self._spool.remove(entry)
            if outcome is Outcome.SENT:
                sent += 1
            else:
                dropped += 1
        if sent or dropped:
            left = len(self._spool.pending(now=self._clock()))
            log.info(
                "replayed %d spooled report(s), dropped %d invalid one(s); %d left in the spool",
                sent,
                dropped,
                left,
            )
        return sent

    async def _send_once(self, report: Report) -> Outcome:
        """One try at every collector, starting with the last one that answered; collectors that refused the
        token are skipped until their pause is over. REFUSED when every collector asked refused the token."""
        n = len(self._collectors)
        refused = asked = 0
        for i in range(n):
            index = (self._good + i) % n
            if self._auth_backoff.waiting(index, self._clock()):
                continue
            fresh = {**report, "sent_at": self._clock()}
            body = gzip.compress(to_json_bytes(fresh), compresslevel=6)
            outcome = await self._post(index, body, report["seq"])
            asked += 1
            if outcome is Outcome.REFUSED:
                refused += 1
            elif outcome is not Outcome.FAILED:
                self._good = index
                return outcome
        return Outcome.REFUSED if refused == asked else Outcome.FAILED

    async def _post(self, index: int, body: bytes, seq: int) -> Outcome:
        shown = self._shown[index]
        url = self._collectors[index] + REPORTS_PATH
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
        if status in REFUSED_STATUSES:
            pause = self._auth_backoff.refused(index, self._clock())
            log.error(
                "collector %s refused this agent's token (HTTP %d: %s): the agent's token or the collector's "
                "agents entry for host %r is wrong; reports are kept in the spool, and this collector is "
                "asked again in %.0f s",
                shown,
                status,
                _error_message(answer),
                self._host,
                pause,
            )
            return Outcome.REFUSED
        if 200 <= status < 300:
            self._auth_backoff.answered(index)
            log.debug("collector %s took report seq=%d", shown, seq)
            return Outcome.SENT
        message = _error_message(answer)
        if status in INVALID_STATUSES:  # the collector checks the token first: it was accepted
            self._auth_backoff.answered(index)
            log.error(
                "collector %s rejected report seq=%d (HTTP %d: %s): dropped", shown, seq, status, message
            )
            return Outcome.REJECTED
        log.warning("collector %s answered HTTP %d (%s): trying elsewhere", shown, status, message)
        return Outcome.FAILED
