"""Email over SMTP with STARTTLS (stdlib ``smtplib`` in a thread).

STARTTLS is required unless ``starttls: false`` (never send a page in clear text by accident): a server that
does not offer it is a permanent error. 4xx replies and network trouble are retryable; 5xx replies (a refused
recipient, bad credentials), certificate failures and a missing STARTTLS are permanent.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import aiohttp
from pydantic import Field, SecretStr, model_validator

from alerting.clock import Clock
from alerting.notify import messages
from alerting.notify.base import NotifyError, scrub
from alerting.notify.config import ChannelConfigBase
from alerting.notify.model import Notification


class EmailConfig(ChannelConfigBase):
    kind: Literal["email"] = "email"
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    from_address: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    ca_file: Path | None = None  # a private CA for the mail server (default: the system's)

    @model_validator(mode="after")
    def _login_needs_tls(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.password is not None and not self.starttls:
            raise ValueError("a password is only sent over STARTTLS: set starttls: true")
        return self


def build_message(n: Notification, from_address: str, now_ts: float) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = n.contact.address
    msg["Subject"] = messages.subject(n)
    msg["Date"] = formatdate(now_ts, localtime=False)
    msg["Message-ID"] = make_msgid(domain="wardwatch")
    if n.incident.id:
        msg["X-Wardwatch-Incident"] = n.incident.number
    msg.set_content(messages.text(n))
    return msg


class EmailNotifier:
    kind: ClassVar[str] = "email"

    def __init__(self, config: EmailConfig, *, session: aiohttp.ClientSession | None, clock: Clock) -> None:
        self.config, self.clock = config, clock

    def _context(self) -> ssl.SSLContext:
        if self.config.ca_file is not None:
            return ssl.create_default_context(cafile=str(self.config.ca_file))
        return ssl.create_default_context()

    def _send_blocking(self, msg: EmailMessage) -> None:
        c = self.config
        with smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds) as smtp:
            smtp.ehlo()
            if c.starttls:
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if c.username is not None and c.password is not None:
                smtp.login(c.username, c.password.get_secret_value())
            smtp.send_message(msg)

    async def send(self, n: Notification) -> None:
        c = self.config
        msg = build_message(n, c.from_address, self.clock.time())
        where = f"smtp {c.host}:{c.port}"
        secrets = [c.password.get_secret_value()] if c.password else []
        try:
            await asyncio.wait_for(asyncio.to_thread(self._send_blocking, msg), c.timeout_seconds * 3)
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            retry = all(400 <= code < 500 for code in codes)
            raise NotifyError(f"{where}: recipient refused ({codes})", retryable=retry) from None
        except smtplib.SMTPNotSupportedError:
            raise NotifyError(f"{where}: the server does not offer STARTTLS", retryable=False) from None
        except smtplib.SMTPResponseException as err:
            text = err.smtp_error.decode(errors="replace") if isinstance(err.smtp_error, bytes) else ""
            detail = scrub(f"{err.smtp_code} {text}".strip(), secrets)
            raise NotifyError(f"{where}: {detail}", retryable=400 <= err.smtp_code < 500) from None
        except ssl.SSLError as err:
            detail = scrub(str(err.reason or type(err).__name__), secrets)
            raise NotifyError(f"{where}: TLS failed: {detail}", retryable=False) from None
        except TimeoutError:
            raise NotifyError(f"{where}: no answer in time", retryable=True) from None
        except (smtplib.SMTPException, OSError) as err:
            detail = scrub(f"{type(err).__name__}: {err}", secrets)
            raise NotifyError(f"{where}: {detail}", retryable=True) from None
