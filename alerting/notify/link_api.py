"""``GET /links/{token}`` shows a small confirmation page; ``POST /links/{token}`` acknowledges or resolves the
incident as the person the link was made for. Chat apps open links to preview them, so GET never acts. A reused,
altered or expired link gets a clear page and a 4xx status.

The store audits the acknowledgement itself (``incident.acknowledge`` by the person); this module adds a
``link.used`` audit line saying it came through a link, and from which address.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from aiohttp import web

from alerting.clock import Clock
from alerting.model import Incident
from alerting.notify.links import LinkClaims, LinkError, LinkSigner, OutboxLinkLedger
from alerting.store import IncidentNotFound, IncidentStore, InvalidTransition

log = logging.getLogger("wardwatch.notify.links")


@dataclass
class LinkContext:
    clock: Clock
    signer: LinkSigner | None = None
    store: IncidentStore | None = None  # filled in at start-up


LINKS = web.AppKey("notify_links", LinkContext)

_VERB = {"ack": ("确认处理", "Acknowledge"), "resolve": ("标记已解决", "Resolve")}
_DONE = {"ack": ("已确认", "acknowledged"), "resolve": ("已解决", "resolved")}
_REFUSED = {
    "malformed": ("链接无效", "This is not a valid link.", 400),
    "tampered": ("链接已被篡改", "This link was altered or is not ours, and is refused.", 403),
    "expired": ("链接已过期", "This link has expired. Use a newer message or the console.", 410),
    "used": ("链接已使用", "This link was already used: each link works once.", 410),
}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}"
        "button{font-size:1.2em;padding:.5em 1.5em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(
        text=doc,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _refused(reason: str, detail: str = "") -> web.Response:
    zh, en, status = _REFUSED[reason]
    extra = f"<p>{html.escape(detail)}</p>" if detail else ""
    return _page(
        f"{zh} / {en.split(':')[0].rstrip('.')}", f"<p>{zh}</p><p>{html.escape(en)}</p>{extra}", status
    )


def _summary(incident: Incident) -> str:
    return (
        f"<p><b>{html.escape(incident.number)}</b> {html.escape(incident.severity.priority)} "
        f"{html.escape(incident.title)}</p><p>状态 / status: {html.escape(incident.status.value)}</p>"
    )


async def _check(request: web.Request) -> tuple[LinkContext, LinkClaims, Incident] | web.Response:
    ctx = request.app[LINKS]
    if ctx.signer is None or ctx.store is None:
        return _page("不可用 / Unavailable", "<p>Links are not configured on this collector.</p>", 503)
    try:
        claims = ctx.signer.verify(request.match_info["token"], now=ctx.clock.now())
    except LinkError as err:
        return _refused(err.reason)
    try:
        incident = await ctx.store.get(claims.incident_id)
    except IncidentNotFound:
        return _page("事件不存在 / No such incident", "<p>The incident of this link is gone.</p>", 404)
    return ctx, claims, incident


async def confirm(request: web.Request) -> web.Response:
    checked = await _check(request)
    if isinstance(checked, web.Response):
        return checked
    ctx, claims, incident = checked
    assert ctx.store is not None
    if await OutboxLinkLedger(ctx.store).is_used(claims):
        return _refused("used")
    zh, en = _VERB[claims.action]
    form = (
        f"{_summary(incident)}<p>操作人 / as: {html.escape(claims.person_id)}</p>"
        f"<form method='post'><button type='submit'>{zh} / {en}</button></form>"
    )
    return _page(f"{zh} {incident.number}", form)


async def act(request: web.Request) -> web.Response:
    checked = await _check(request)
    if isinstance(checked, web.Response):
        return checked
    ctx, claims, incident = checked
    assert ctx.store is not None
    now = ctx.clock.now()
    if not await OutboxLinkLedger(ctx.store).consume(claims, now=now):
        return _refused("used")
    try:
        if claims.action == "ack":
            updated = await ctx.store.acknowledge(incident.id, claims.person_id, now)
        else:
            updated = await ctx.store.resolve(incident.id, claims.person_id, now)
    except InvalidTransition as err:
        return _page("无法执行 / Not possible", f"<p>{html.escape(str(err))}</p>{_summary(incident)}", 409)
    await ctx.store.append_audit(
        actor=claims.person_id,
        action="link.used",
        target=incident.number,
        details={"link_action": claims.action, "nonce": claims.nonce, "remote": request.remote or ""},
        now=now,
    )
    log.info("%s %s by %s via link", incident.number, claims.action, claims.person_id)
    zh, en = _DONE[claims.action]
    return _page(f"{zh} / {en}", _summary(updated))


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/links/{token}", confirm)
    app.router.add_post("/links/{token}", act)


def setup(app: web.Application) -> None:
    """Routes plus the context (signer from ``settings.notify``); the store is filled in by ``notify.component``."""
    from collector import keys  # the component side; the handlers above need only LINKS

    settings = app[keys.SETTINGS].notify
    signer = None
    if settings.link_secret is not None:
        signer = LinkSigner(
            settings.link_secret.get_secret_value(),
            base_url=settings.public_base_url,
            ttl_seconds=settings.link_ttl_seconds,
        )
    app[LINKS] = LinkContext(clock=app[keys.CLOCK], signer=signer)
    setup_routes(app)
