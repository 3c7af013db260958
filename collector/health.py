"""``GET /healthz`` (the process answers) and ``GET /readyz`` (every component says it is ready).

Components add readiness checks with ``add_readiness_check(app, name, check)``; a check returns
None when ready or a sentence saying what is not.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from collector import keys

ReadinessCheck = Callable[[], str | None]
READINESS = web.AppKey("readiness_checks", dict)


def add_readiness_check(app: web.Application, name: str, check: ReadinessCheck) -> None:
    app.setdefault(READINESS, {})[name] = check


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    problems = {}
    for name, check in request.app.get(READINESS, {}).items():
        problem = check()
        if problem is not None:
            problems[name] = problem
    body = {
        "status": "ready" if not problems else "not ready",
        "sources": len(request.app[keys.STATE]),
        "problems": problems,
    }
    return web.json_response(body, status=200 if not problems else 503)


def setup(app: web.Application) -> None:
    app.setdefault(READINESS, {})
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
