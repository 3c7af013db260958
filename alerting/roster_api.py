"""Roster HTTP routes, a collector component (``setup(app)``, in ``collector.app.COMPONENTS``):

- ``GET /api/v1/rosters/who[?at=ISO&team=ID]`` — who is on duty (JSON; bearer API token);
- ``GET /api/v1/rosters/ical-links`` — a subscription URL per person and team (JSON; bearer API token);
- ``GET /api/v1/rosters/ical/{person|team}/{id}.ics?token=T`` — the iCalendar feed a phone subscribes to;
- ``wardwatch_oncall_info{team,layer,person}`` on /metrics: 1 for whoever is on duty at scrape time.
  Calendar apps cannot send headers, so each feed has its own token in the URL: an HMAC of the feed's name keyed
  by the collector's API token hash. It opens that one feed only; changing the API token revokes every link.

The roster and the escalation policies are loaded when the app is built (``settings.rosters.path``, default
``rosters/``) into ``app[ONCALL]``, an ``OnCallSource`` the escalation loop shares and reloads when the files
change: a bad roster fails start-up with file, line and field; a bad edit later keeps the last good roster.
Without an API token configured the routes answer 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alerting.clock import Clock
from alerting.oncall_source import OnCallSource
from alerting.roster_ical import person_ical, team_ical
from alerting.rosters import Roster, who_is_on_duty
from collector import keys
from collector.errors import json_error
from collector.settings import hash_token

ONCALL = web.AppKey("oncall", OnCallSource)
FEED_PAST = timedelta(days=7)
FEED_AHEAD = timedelta(days=60)


def feed_token(api_token_sha256: str, kind: str, ident: str) -> str:
    """The token that opens one iCalendar feed."""
    key = b"wardwatch-roster-feed:" + api_token_sha256.encode()
    return hmac.new(key, f"{kind}:{ident}".encode(), hashlib.sha256).hexdigest()[:40]


def _api_token_hash(request: web.Request) -> str:
    configured = request.app[keys.SETTINGS].api_token_sha256
    if configured is None:
        raise json_error(web.HTTPForbidden, "no API token is configured (api_token_sha256)")
    return configured


def _require_bearer(request: web.Request) -> str:
    configured = _api_token_hash(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise json_error(web.HTTPUnauthorized, "missing bearer token (Authorization: Bearer <API token>)")
    if not hmac.compare_digest(hash_token(token.strip()), configured):
        raise json_error(web.HTTPUnauthorized, "unknown API token")
    return configured


def _at(request: web.Request, roster: Roster) -> datetime:
    text = request.query.get("at")
    if text is None:
        return request.app[keys.CLOCK].now()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise json_error(web.HTTPBadRequest, "at: not an ISO 8601 time") from None
    return at.replace(tzinfo=roster.tz) if at.tzinfo is None else at


async def get_who(request: web.Request) -> web.Response:
    _require_bearer(request)
    roster = current_roster(request.app)
    team = request.query.get("team")
    if team is not None and team not in roster.teams:
        raise json_error(web.HTTPBadRequest, f"team: no team {team!r}")
    board = who_is_on_duty(roster, _at(request, roster))
    body = {
        "at": board.at.isoformat(),
        "timezone": roster.config.timezone,
        "layers": [
            {"team": t, "layer": layer, "people": [{"id": p.id, "name": p.name} for p in people]}
            for (t, layer), people in board.layers.items()
            if team is None or t == team
        ],
        "positions": [
            {"position": name, "people": [{"id": p.id, "name": p.name} for p in people]}
            for name, people in board.positions.items()
        ]
        if team is None
        else [],
    }
    return web.json_response(body, dumps=_dumps)


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


async def get_ical_links(request: web.Request) -> web.Response:
    configured = _require_bearer(request)
    roster = current_roster(request.app)

    def url(kind: str, ident: str) -> str:
        path = request.app.router["roster_ical"].url_for(kind=kind, ident=ident)
        return str(request.url.with_path(str(path)).with_query(token=feed_token(configured, kind, ident)))

    return web.json_response(
        {
            "people": {p: url("person", p) for p in roster.people},
            "teams": {t: url("team", t) for t in roster.teams},
        },
        dumps=_dumps,
    )


async def get_ical(request: web.Request) -> web.Response:
    configured = _api_token_hash(request)
    kind, ident = request.match_info["kind"], request.match_info["ident"]
    token = request.query.get("token", "")
    if not hmac.compare_digest(token, feed_token(configured, kind, ident)):
        raise json_error(web.HTTPNotFound, "no such calendar")  # the same answer for a wrong token and id
    roster = current_roster(request.app)
    if ident not in (roster.people if kind == "person" else roster.teams):
        raise json_error(web.HTTPNotFound, "no such calendar")
    now = request.app[keys.CLOCK].now()
    make = person_ical if kind == "person" else team_ical
    body = make(roster, ident, start=now - FEED_PAST, end=now + FEED_AHEAD, now=now)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8")


def current_roster(app: web.Application) -> Roster:
    """The roster in use now (the last good one if an edit was rejected)."""
    return app[ONCALL].current.roster


class OnCallCollector(Collector):
    """``wardwatch_oncall_info``: pure computation from the roster and the clock, no I/O."""

    def __init__(self, roster: Callable[[], Roster], clock: Clock) -> None:
        self._roster = roster
        self._clock = clock

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(
            "wardwatch_oncall_info",
            "1 for each person on duty now, per team layer",
            labels=["team", "layer", "person"],
        )
        board = who_is_on_duty(self._roster(), self._clock.now())
        for (team, layer), people in board.layers.items():
            for p in people:
                family.add_metric([team, layer, p.id], 1.0)
        yield family


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS].rosters
    if not settings.enabled:
        return
    if ONCALL not in app:  # a test may have put its own source in
        app[ONCALL] = OnCallSource(settings.path, settings.escalation_file)
    app[keys.REGISTRY].register(OnCallCollector(lambda: current_roster(app), app[keys.CLOCK]))
    app.router.add_get("/api/v1/rosters/who", get_who)
    app.router.add_get("/api/v1/rosters/ical-links", get_ical_links)
    app.router.add_get(r"/api/v1/rosters/ical/{kind:person|team}/{ident}.ics", get_ical, name="roster_ical")
