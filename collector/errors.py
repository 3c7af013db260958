"""Every HTTP error the collector sends is JSON: ``{"error": "<sentence naming the field>"}``.

This middleware is the boundary: handlers raise ``web.HTTPException``s (or ``json_error``), an
unexpected exception becomes a logged 500 whose body says nothing internal.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("wardwatch.collector")


def json_error(status_class: type[web.HTTPError], message: str, **extra: object) -> web.HTTPError:
    body = json.dumps({"error": message, **extra}, ensure_ascii=False)
    if issubclass(status_class, web.HTTPRequestEntityTooLarge):
        return status_class(max_size=0, actual_size=0, text=body, content_type="application/json")
    return status_class(text=body, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        reason = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        raise json_error(type(exc), reason or exc.reason) from None  # type: ignore[arg-type]
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        raise json_error(web.HTTPInternalServerError, "internal error; see the collector log") from None


def setup(app: web.Application) -> None:
    app.middlewares.append(error_middleware)
