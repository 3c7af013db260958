"""Email through a real aiosmtpd server with STARTTLS (a trustme CA), answering scripted statuses."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr, ValidationError

from alerting.notify.email import EmailConfig, EmailNotifier
from tests.alerting.notify.conftest import closed_port, notification
from tests.alerting.notify.leaks import assert_fails_without_leaking

PASSWORD = "smtp-password-9f8e7d6c"


class Mailbox:
    """Scripted answers: an address starting ``full`` gets 452 (try later), ``nobody`` gets 550."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, bool, list[str]]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("full"):
            return "452 4.2.2 mailbox full, try later"
        if address.startswith("nobody"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((msg, session.ssl is not None, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"oncall"
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _server(ca: trustme.CA, mailbox: Mailbox, *, tls: bool) -> Controller:
    kwargs: dict[str, Any] = {}
    if tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(ctx)
        kwargs = {
            "tls_context": ctx,
            "require_starttls": True,
            "authenticator": _authenticate,
            "auth_required": True,
            "auth_exclude_mechanism": ["LOGIN"],
        }
    controller = Controller(mailbox, hostname="127.0.0.1", port=closed_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp(ca: trustme.CA, mailbox: Mailbox) -> Iterator[Controller]:
    controller = _server(ca, mailbox, tls=True)
    yield controller
    controller.stop()


def notifier(port: int, clock: Any, *, ca_file: Path | None, password: str = PASSWORD) -> EmailNotifier:
    cfg = EmailConfig(
        host="127.0.0.1",
        port=port,
        from_address="wardwatch@hosp.local",
        username="oncall",
        password=SecretStr(password),
        ca_file=ca_file,
        timeout_seconds=5,
    )
    return EmailNotifier(cfg, session=None, clock=clock)


async def test_delivers_over_starttls_with_login(smtp, mailbox, clock, ca_file):
    await notifier(smtp.port, clock, ca_file=ca_file).send(notification("email", "zhangsan@hosp.local"))
    [(msg, over_tls, rcpts)] = mailbox.messages
    assert over_tls
    assert rcpts == ["zhangsan@hosp.local"]
    assert msg["Subject"] == "【P1 告警】INC-2026-000123 HIS 数据库磁盘 95%"
    assert msg["X-Wardwatch-Incident"] == "INC-2026-000123"
    body = msg.get_content()
    assert "确认处理: https://oncall.hosp/links/ack-token" in body
    assert "应急预案: https://wiki.hosp/plans/his-db" in body


@pytest.mark.parametrize(("address", "retryable"), [("full@hosp.local", True), ("nobody@hosp.local", False)])
async def test_recipient_refusals_are_classified(smtp, clock, ca_file, caplog, address, retryable):
    err = await assert_fails_without_leaking(
        notifier(smtp.port, clock, ca_file=ca_file).send(notification("email", address)),
        [PASSWORD],
        caplog,
        retryable=retryable,
    )
    assert "recipient refused" in str(err)


async def test_a_wrong_password_is_permanent_and_never_shown(smtp, clock, ca_file, caplog):
    wrong = "not-the-password-123"
    err = await assert_fails_without_leaking(
        notifier(smtp.port, clock, ca_file=ca_file, password=wrong).send(
            notification("email", "a@hosp.local")
        ),
        [wrong],
        caplog,
        retryable=False,
    )
    assert "535" in str(err)


async def test_an_untrusted_certificate_is_permanent(smtp, clock, caplog):
    err = await assert_fails_without_leaking(
        notifier(smtp.port, clock, ca_file=None).send(notification("email", "a@hosp.local")),
        [PASSWORD],
        caplog,
        retryable=False,
    )
    assert "TLS failed" in str(err)


async def test_a_server_without_starttls_gets_no_page_and_no_password(ca, clock, ca_file, caplog):
    mailbox = Mailbox()
    controller = _server(ca, mailbox, tls=False)
    try:
        err = await assert_fails_without_leaking(
            notifier(controller.port, clock, ca_file=ca_file).send(notification("email", "a@hosp.local")),
            [PASSWORD],
            caplog,
            retryable=False,
        )
    finally:
        controller.stop()
    assert "STARTTLS" in str(err)
    assert mailbox.messages == []


async def test_connection_refused_is_retryable(clock, ca_file, caplog):
    await assert_fails_without_leaking(
        notifier(closed_port(), clock, ca_file=ca_file).send(notification("email", "a@hosp.local")),
        [PASSWORD],
        caplog,
        retryable=True,
    )


def test_a_password_without_starttls_is_refused_at_load():
    with pytest.raises(ValidationError, match="STARTTLS"):
        EmailConfig(host="mail", from_address="a@b", username="u", password=SecretStr("p"), starttls=False)
