"""``POST /api/v1/reports``: agents push one report per cycle.

Order of checks, each with its own answer: bearer token (401), body size before and after gunzip
(413), JSON + schema (400, naming the field), token bound to another host (403). Accepted reports
are recorded in the state in timestamp order, late (spooled) ones included.

A report that was already stale when it arrived (older than ``state.stale_after_intervals`` of its interval:
spooled during an outage, replayed) is recorded as late even when it is the newest: it joins the window
(rates, history) but is not the host's current values, does not make it look up, and does not change its
labels, parent, interval or version. Only a current report (``latest``) does.
"""

from __future__ import annotations

import logging
from functools import partial

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import ValidationError

from agent.wire import Report
from collector import keys
from collector.errors import json_error
from collector.host_metrics import declare_host_metrics, flatten_report
from collector.selfmetrics import SELF_METRICS
from collector.settings import hash_token
from collector.state import RecordOutcome, Snapshot, SourceKind, SourceState, State

log = logging.getLogger("wardwatch.ingest")

TOKENS = web.AppKey("agent_tokens", dict)  # sha256 hex -> host
MAX_ERRORS_SHOWN = 5


def describe_report_errors(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False, include_input=False)[:MAX_ERRORS_SHOWN]:
        loc = ".".join(str(p) for p in e["loc"]) or "(body)"
        parts.append(f"{loc}: {e['msg']}")
    more = err.error_count() - MAX_ERRORS_SHOWN
    if more > 0:
        parts.append(f"and {more} more")
    return "invalid report: " + "; ".join(parts)


def age_on_arrival(report: Report, received_at: float) -> float:
    """How old the report was when it arrived. From ``sent_at - timestamp``, both on the agent's clock, so an
    agent whose clock is off (``wardwatch_agent_clock_skew_seconds``) is judged rightly; the transit itself
    (at most the agent's send timeout) is left out. A report without ``sent_at``: by the collector's clock."""
    if report.sent_at is not None:
        return max(0.0, report.sent_at - report.timestamp)
    return max(0.0, received_at - report.timestamp)


def _upsert(state: State, report: Report) -> SourceState:
    return state.upsert_source(
        SourceKind.AGENT,
        report.agent.host,
        labels=report.agent.labels,
        interval_seconds=report.interval_seconds,
        parent=report.agent.parent,
    )


def _authenticate(request: web.Request) -> str | None:
    """The host the presented token belongs to; None when unauthenticated agents are allowed."""
    settings = request.app[keys.SETTINGS]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        if settings.allow_unauthenticated_agents:
            return None
        raise json_error(web.HTTPUnauthorized, "missing bearer token (Authorization: Bearer <agent token>)")
    # Tokens are stored as SHA-256; looking up the digest leaks nothing useful about a token by timing.
    host = request.app[TOKENS].get(hash_token(token.strip()))
    if host is None:
        raise json_error(web.HTTPUnauthorized, "unknown agent token")
    return host


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The body, gunzipped by aiohttp's parser; ``client_max_size`` bounds the inflated size."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise json_error(
            web.HTTPRequestEntityTooLarge, f"report over {limit} bytes (after decompression)"
        ) from None
    except RequestPayloadError as err:
        encoding = request.headers.get("Content-Encoding", "identity")
        raise json_error(web.HTTPBadRequest, f"body cannot be read as Content-Encoding {encoding}") from err


async def post_report(request: web.Request) -> web.Response:
    app = request.app
    metrics = app[SELF_METRICS]
    settings = app[keys.SETTINGS]
    clock = app[keys.CLOCK]
    with metrics.report_seconds.time():
        try:
            host = _authenticate(request)
            body = await _read_body(request, settings.http.max_report_bytes)
            try:
                report = Report.model_validate_json(body)
            except ValidationError as err:
                raise json_error(web.HTTPBadRequest, describe_report_errors(err)) from None
            if host is not None and report.agent.host != host:
                raise json_error(
                    web.HTTPForbidden,
                    f"agent.host: this token belongs to {host!r}, not {report.agent.host!r}",
                )
        except web.HTTPException as exc:
            reason = {401: "unauthenticated", 403: "forbidden", 413: "too_large"}.get(exc.status, "invalid")
            metrics.reports_rejected.labels(reason).inc()
            log.info("rejected report from %s: %s %s", request.remote, exc.status, exc.text)
            raise

        received_at = clock.time()
        state = app[keys.STATE]
        source = state.get(SourceKind.AGENT, report.agent.host)
        if source is None:  # the host's first report, whatever its age: where its snapshots are kept
            source = _upsert(state, report)
        snapshot = Snapshot(
            report.timestamp, received_at, flatten=partial(flatten_report, report), payload=report
        )
        fresh_for = report.interval_seconds * settings.state.stale_after_intervals
        outcome = state.record(source, snapshot, current=age_on_arrival(report, received_at) <= fresh_for)
        if outcome is RecordOutcome.LATEST:  # what the host is now: labels, parent, interval, version
            _upsert(state, report)
            source.info["version"] = report.agent.version
            if report.sent_at is not None:
                source.clock_skew_seconds = report.sent_at - received_at
        metrics.reports.labels(outcome.value).inc()
    return web.json_response({"status": "accepted", "outcome": outcome.value})


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    app[TOKENS] = {cred.token_sha256: cred.host for cred in settings.agents}
    declare_host_metrics(app[keys.CATALOG])
    app.router.add_post("/api/v1/reports", post_report)
