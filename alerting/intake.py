"""Intake: other systems open incidents too. Routes (added by ``alerting.component``):

- ``POST /api/v1/alerts/alertmanager``: Alertmanager's webhook (version 4); each alert is firing or resolved
  on its own, deduplicated by its label set (which is what Alertmanager's ``fingerprint`` hashes);
- ``POST /api/v1/events``: trigger / acknowledge / resolve with a dedup key, in the manner of PagerDuty's
  Events API v2 (answers 202 with the dedup key);
- ``POST /api/v1/incidents``: a manual report by a department information officer.

All need ``Authorization: Bearer <token>`` (a configured intake token, or the collector's API token); the token
is compared by its SHA-256 and never logged. Bad payloads get 400 naming the field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerting.incidents import find_open_incident, note_maintenance
from alerting.model import Alert, Category, Severity, Source, fingerprint_for
from alerting.store import IncidentStore, InvalidTransition
from collector import keys
from collector.errors import json_error

log = logging.getLogger("wardwatch.intake")

INTAKE_TOKENS = web.AppKey("intake_tokens", dict)  # sha256 hex -> name of the caller

# Alertmanager/Prometheus severities and PagerDuty's, mapped to ours (P1..P4)
SEVERITY_WORDS = {
    "critical": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "major": Severity.MAJOR,
    "error": Severity.MAJOR,
    "high": Severity.MAJOR,
    "p2": Severity.MAJOR,
    "minor": Severity.MINOR,
    "warning": Severity.MINOR,
    "medium": Severity.MINOR,
    "p3": Severity.MINOR,
    "info": Severity.WARNING,
    "low": Severity.WARNING,
    "p4": Severity.WARNING,
}
ALERTMANAGER_SEVERITY_DEFAULT = Severity.MINOR


# --------------------------------------------------------------------------------------- payloads


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Alertmanager adds fields over versions

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    externalURL: str = ""
    alerts: list[AlertmanagerAlert]


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    summary: Annotated[str, Field(min_length=1, max_length=1024)]
    source: Annotated[str, Field(min_length=1, max_length=255)]
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: datetime | None = None
    component: str | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso(cls, v: Any) -> Any:
        # PagerDuty's examples write offsets as +0000; a time without an offset is UTC
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v)
            except ValueError:
                raise ValueError("not an ISO 8601 time") from None
        if isinstance(v, datetime):
            return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        return v

    group: str | None = None
    class_: str | None = Field(None, alias="class")
    custom_details: dict[str, Any] | str | None = None


class EventMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routing_key: str | None = None  # PagerDuty's; we authenticate with the bearer token
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    payload: EventPayload | None = None
    images: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    client: str | None = None
    client_url: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> EventMessage:
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("payload: required for trigger")
        if self.event_action != "trigger" and self.dedup_key is None:
            raise ValueError(f"dedup_key: required for {self.event_action}")
        return self


class ManualReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Annotated[str, Field(min_length=1, max_length=100)]
    reporter: Annotated[str, Field(min_length=1, max_length=100)]
    contact: Annotated[str, Field(min_length=1, max_length=200)]  # phone or extension
    description: Annotated[str, Field(min_length=1, max_length=5000)]
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    system: Annotated[str, Field(max_length=100)] | None = None
    location: Annotated[str, Field(max_length=100)] | None = None
    severity: Severity = Severity.MINOR
    category: Category = Category.OTHER


M = TypeVar("M", bound=BaseModel)


def _field_of(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def parse_body(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        message = message.removeprefix("Value error, ")
        field = _field_of(first["loc"])
        if ": " in message and field == "body":  # the model-level checks name their field
            field, message = message.split(": ", 1)
        raise json_error(web.HTTPBadRequest, f"{field}: {message}") from None


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise json_error(web.HTTPBadRequest, "body: not valid JSON") from None


def authenticate(request: web.Request) -> str:
    """The caller's name for a valid bearer token; 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise json_error(web.HTTPUnauthorized, "Authorization: a bearer token is required")
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    for known, name in request.app[INTAKE_TOKENS].items():
        if hmac.compare_digest(known, digest):
            return name
    raise json_error(web.HTTPUnauthorized, "Authorization: unknown token")


# ---------------------------------------------------------------------------------------- mapping


def severity_of(word: str | None, default: Severity) -> Severity:
    return SEVERITY_WORDS.get((word or "").strip().lower(), default)


def category_of(word: str | None) -> Category:
    try:
        return Category((word or "").strip().lower())
    except ValueError:
        return Category.OTHER


def alert_from_alertmanager(a: AlertmanagerAlert, now: datetime) -> Alert:
    labels = dict(a.labels)
    host = labels.get("host") or labels.get("instance", "").rsplit(":", 1)[0]
    name = labels.get("alertname", "alertmanager")
    starts = a.startsAt if a.startsAt is not None and a.startsAt.year > 1 else now
    return Alert(
        fingerprint=fingerprint_for("alertmanager", labels),
        rule=f"alertmanager:{name}",
        title=a.annotations.get("summary") or name,
        severity=severity_of(labels.get("severity"), ALERTMANAGER_SEVERITY_DEFAULT),
        category=category_of(labels.get("category")),
        source=Source.ALERTMANAGER,
        starts_at=starts.astimezone(UTC),
        labels=labels,
        assets=(host,) if host else (),
        summary=a.annotations.get("summary", ""),
        description=a.annotations.get("description", ""),
        plan_url=a.annotations.get("runbook_url") or a.annotations.get("plan_url") or None,
    )


def event_fingerprint(dedup_key: str) -> str:
    return fingerprint_for("event", {"dedup_key": dedup_key})


def alert_from_event(msg: EventMessage, dedup_key: str, now: datetime) -> Alert:
    p = msg.payload
    assert p is not None
    labels = {"dedup_key": dedup_key, "source": p.source}
    for name, value in (("component", p.component), ("group", p.group), ("class", p.class_)):
        if value:
            labels[name] = value
    details = p.custom_details
    description = details if isinstance(details, str) else json.dumps(details or {}, ensure_ascii=False)
    return Alert(
        fingerprint=event_fingerprint(dedup_key),
        rule="event",
        title=p.summary,
        severity={
            "critical": Severity.CRITICAL,
            "error": Severity.MAJOR,
            "warning": Severity.MINOR,
            "info": Severity.WARNING,
        }[p.severity],
        category=category_of(p.class_),
        source=Source.API,
        starts_at=p.timestamp or now,
        labels=labels,
        assets=(p.source,),
        summary=p.summary,
        description="" if description == "{}" else description,
    )


def alert_from_report(r: ManualReport, now: datetime) -> Alert:
    labels = {"department": r.department}
    if r.system:
        labels["system"] = r.system
    if r.location:
        labels["room"] = r.location
    title = r.title or f"{r.department}: {r.description.splitlines()[0][:120]}"
    return Alert(
        fingerprint=fingerprint_for("manual", {"report": str(uuid.uuid4())}),
        rule="manual",
        title=title,
        severity=r.severity,
        category=r.category,
        source=Source.MANUAL,
        starts_at=now,
        labels=labels,
        summary=title,
        description=f"{r.description}\n\nReported by {r.reporter} ({r.department}), contact: {r.contact}",
        opened_by=r.reporter,
    )


# --------------------------------------------------------------------------------------- handlers


def _store(request: web.Request) -> IncidentStore:
    from alerting.component import ALERTING

    store = request.app[ALERTING].store
    if store is None:
        raise json_error(web.HTTPServiceUnavailable, "the incident store is not open")
    return store


async def _refresh(request: web.Request) -> None:
    from alerting.component import ALERTING

    runner = request.app[ALERTING].runner
    if runner is not None:
        await runner.refresh_open_counts()


async def post_alertmanager(request: web.Request) -> web.Response:
    caller = authenticate(request)
    msg = parse_body(AlertmanagerMessage, await _json(request))
    store = _store(request)
    now = request.app[keys.CLOCK].now()
    opened: list[str] = []
    touched: list[str] = []
    resolved: list[str] = []
    for a in msg.alerts:
        alert = alert_from_alertmanager(a, now)
        if a.status == "firing":
            incident, created = await store.open_or_touch(alert, now)
            if created:
                await note_maintenance(store, incident, alert.labels, now)
            (opened if created else touched).append(incident.number)
        else:
            incident = await store.resolve_by_fingerprint(alert.fingerprint, now, by=caller)
            if incident is not None:
                resolved.append(incident.number)
    if opened or resolved:
        log.info("alertmanager (%s): opened %s, resolved %s", caller, opened, resolved)
        await _refresh(request)
    return web.json_response({"status": "ok", "opened": opened, "touched": touched, "resolved": resolved})


async def post_event(request: web.Request) -> web.Response:
    caller = authenticate(request)
    msg = parse_body(EventMessage, await _json(request))
    store = _store(request)
    now = request.app[keys.CLOCK].now()
    dedup_key = msg.dedup_key or uuid.uuid4().hex
    fp = event_fingerprint(dedup_key)
    body: dict[str, Any] = {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
    if msg.event_action == "trigger":
        alert = alert_from_event(msg, dedup_key, now)
        incident, created = await store.open_or_touch(alert, now)
        if created:
            await note_maintenance(store, incident, alert.labels, now)
        body["incident"] = incident.number
    elif msg.event_action == "acknowledge":
        incident = await find_open_incident(store, fp)
        if incident is None:
            body["message"] = "No open incident for this dedup_key"
        else:
            try:
                incident = await store.acknowledge(incident.id, caller, now)
            except InvalidTransition as err:
                raise json_error(web.HTTPConflict, f"dedup_key: {err}") from None
            body["incident"] = incident.number
    else:
        incident = await store.resolve_by_fingerprint(fp, now, by=caller)
        if incident is None:
            body["message"] = "No open incident for this dedup_key"
        else:
            body["incident"] = incident.number
    await _refresh(request)
    return web.json_response(body, status=202)


async def post_incident(request: web.Request) -> web.Response:
    authenticate(request)
    report = parse_body(ManualReport, await _json(request))
    store = _store(request)
    now = request.app[keys.CLOCK].now()
    alert = alert_from_report(report, now)
    incident, _ = await store.open_or_touch(alert, now)
    await note_maintenance(store, incident, alert.labels, now)
    log.info("manual report %s by %s (%s)", incident.number, report.reporter, report.department)
    await _refresh(request)
    return web.json_response(
        {"id": incident.id, "number": incident.number, "status": incident.status.value}, status=201
    )


def setup_routes(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    tokens = {t.token_sha256: t.name for t in settings.alerting.intake_tokens}
    if settings.api_token_sha256 is not None:
        tokens.setdefault(settings.api_token_sha256, "api")
    app[INTAKE_TOKENS] = tokens
    app.router.add_post("/api/v1/alerts/alertmanager", post_alertmanager)
    app.router.add_post("/api/v1/events", post_event)
    app.router.add_post("/api/v1/incidents", post_incident)
