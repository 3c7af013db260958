"""Generic webhook against a loopback receiver that verifies the HMAC signature over timestamp + raw body."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from alerting.clock import FakeClock
from alerting.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookConfig, WebhookNotifier
from tests.alerting.notify.conftest import closed_port, notification
from tests.alerting.notify.leaks import assert_fails_without_leaking

SECRET = "webhook-shared-secret-0123456789"
PATH_TOKEN = "hooks/T0KEN9d8c7b6a5"


class Receiver:
    def __init__(self, clock: FakeClock, status: int = 200) -> None:
        self.clock, self.status = clock, status
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        ts = request.headers.get(TIMESTAMP_HEADER, "")
        if not ts.isdigit() or abs(int(ts) - self.clock.time()) > 300:
            return web.Response(status=401, text="stale or missing timestamp")
        mac = hmac.new(SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), f"sha256={mac}"):
            return web.Response(status=401, text="bad signature")
        if request.content_type != "application/json":
            return web.Response(status=415)
        self.received.append(json.loads(raw))
        return web.Response(status=self.status, text=f"echo {request.path_qs}")


async def start(aiohttp_server: Any, receiver: Receiver) -> str:
    app = web.Application()
    app.router.add_post("/" + PATH_TOKEN, receiver.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("/" + PATH_TOKEN))


def notifier(session: Any, clock: FakeClock, secret: str = SECRET) -> WebhookNotifier:
    return WebhookNotifier(WebhookConfig(secret=SecretStr(secret)), session=session, clock=clock)


async def test_signed_json_is_verified_by_the_receiver(aiohttp_server, clock, session):
    receiver = Receiver(clock)
    url = await start(aiohttp_server, receiver)
    await notifier(session, clock).send(notification("webhook", url))
    [body] = receiver.received
    assert body["kind"] == "page"
    assert body["person"] == {"id": "zhangsan", "name": "张三"}
    assert body["incident"]["number"] == "INC-2026-000123"
    assert body["incident"]["since"] == "2026-11-28T03:00:00Z"
    assert body["links"] == {
        "acknowledge": "https://oncall.hosp/links/ack-token",
        "resolve": "https://oncall.hosp/links/resolve-token",
    }


async def test_a_wrong_secret_gets_401_which_is_not_retried(aiohttp_server, clock, session, caplog):
    receiver = Receiver(clock)
    url = await start(aiohttp_server, receiver)
    err = await assert_fails_without_leaking(
        notifier(session, clock, secret="wrong-secret-wrong").send(notification("webhook", url)),
        ["wrong-secret-wrong", "T0KEN9d8c7b6a5"],
        caplog,
        retryable=False,
    )
    assert "HTTP 401" in str(err)
    assert receiver.received == []


async def test_a_timestamp_outside_the_window_is_refused(aiohttp_server, clock, session):
    receiver = Receiver(FakeClock(clock.time() + 600))
    url = await start(aiohttp_server, receiver)
    try:
        await notifier(session, clock).send(notification("webhook", url))
    except Exception as err:
        assert "HTTP 401" in str(err)
    else:
        raise AssertionError("a stale timestamp was accepted")


async def test_a_503_is_retryable_and_the_path_token_is_not_leaked(aiohttp_server, clock, session, caplog):
    receiver = Receiver(clock, status=503)
    url = await start(aiohttp_server, receiver)
    await assert_fails_without_leaking(
        notifier(session, clock).send(notification("webhook", url)),
        [SECRET, "T0KEN9d8c7b6a5"],
        caplog,
        retryable=True,
    )


async def test_connection_refused_is_retryable(clock, session, caplog):
    url = f"http://127.0.0.1:{closed_port()}/{PATH_TOKEN}?token=querysecret123"
    await assert_fails_without_leaking(
        notifier(session, clock).send(notification("webhook", url)),
        [SECRET, "T0KEN9d8c7b6a5", "querysecret123"],
        caplog,
        retryable=True,
    )


async def test_a_non_http_address_is_permanent(clock, session):
    try:
        await notifier(session, clock).send(notification("webhook", "ftp://example"))
    except Exception as err:
        assert getattr(err, "retryable", None) is False
    else:
        raise AssertionError("sent to a non-HTTP address")
