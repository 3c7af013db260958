"""The notifier contract and what every HTTP channel shares.

A channel only formats and classifies: ``send`` returns on success and raises ``NotifyError(message,
retryable=...)`` otherwise. Backoff and failover live once, in ``outbox``. Error messages never carry secrets:
URLs are redacted (query values, user info, and for channels whose path is the credential, the path), and any
text that came from outside (an exception, a response body) is scrubbed of the channel's secrets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import aiohttp

from alerting.notify.model import Notification

REDACTED = "REDACTED"
_BODY_SNIPPET = 200


class NotifyError(Exception):
    """Delivery failed. ``retryable``: try the same contact method again later (429, 5xx, network trouble);
    otherwise fail over at once (a 4xx, a bad address, a refused credential)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class Notifier(Protocol):
    kind: ClassVar[str]

    async def send(self, n: Notification) -> None: ...


def redact_url(url: str, *, keep_path: bool = True) -> str:
    """``url`` safe to show: no user info, every query value replaced, and the path dropped unless
    ``keep_path`` (Feishu's hook id and many webhook URLs carry their secret in the path)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path if keep_path else ("/…" if parts.path not in ("", "/") else parts.path)
    query = "&".join(f"{k}={REDACTED}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials (query values, user info, path segments)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
    found += [s for s in (parts.username, parts.password) if s]
    found += [seg for seg in parts.path.split("/") if len(seg) >= 8]
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every (non-trivial) secret replaced, longest first."""
    for s in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    return text


def classify_status(status: int, body: str, where: str) -> None:
    """2xx passes; 429 and 5xx are retryable; every other status is permanent."""
    if 200 <= status < 300:
        return
    snippet = body[:_BODY_SNIPPET].strip()
    message = f"{where} answered HTTP {status}" + (f": {snippet}" if snippet else "")
    raise NotifyError(message, retryable=status == 429 or status >= 500)


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: Any,
    *,
    timeout_seconds: float,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    secrets: Iterable[str] = (),
    keep_path: bool = True,
) -> Any:
    """POST ``payload`` as JSON (or the ready ``data`` bytes) and return the decoded JSON answer (None if the
    answer is not JSON). Raises ``NotifyError`` classified as in ``classify_status``; connection errors and
    timeouts are retryable."""
    body = data if data is not None else json.dumps(payload, ensure_ascii=False).encode()
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return await _request(
        session,
        "POST",
        url,
        body,
        headers=all_headers,
        timeout_seconds=timeout_seconds,
        secrets=secrets,
        keep_path=keep_path,
    )


async def _request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: bytes | None,
    *,
    headers: Mapping[str, str],
    timeout_seconds: float,
    secrets: Iterable[str],
    keep_path: bool,
) -> Any:
    where = redact_url(url, keep_path=keep_path)
    hidden = [*secrets, *url_secrets(url)]
    try:
        async with session.request(
            method,
            url,
            data=body,
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as resp:
            text = await resp.text(errors="replace")
            status = resp.status
    except TimeoutError:
        raise NotifyError(f"{where}: no answer within {timeout_seconds:g} s", retryable=True) from None
    except (aiohttp.ClientError, OSError) as err:
        detail = scrub(f"{type(err).__name__}: {err}", hidden)
        raise NotifyError(f"{where}: {detail}", retryable=True) from None
    try:
        classify_status(status, text, where)
    except NotifyError as err:
        raise NotifyError(scrub(err.message, hidden), retryable=err.retryable) from None
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


async def request_text(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: bytes | None,
    *,
    headers: Mapping[str, str],
    timeout_seconds: float,
    secrets: Iterable[str] = (),
    keep_path: bool = True,
) -> Any:
    """Like ``post_json`` for any method and ready-made body (the SMS gateway's template)."""
    return await _request(
        session,
        method,
        url,
        body,
        headers=headers,
        timeout_seconds=timeout_seconds,
        secrets=secrets,
        keep_path=keep_path,
    )


def check_robot_answer(
    answer: Any,
    *,
    where: str,
    code_field: str,
    message_field: str,
    retryable_codes: Iterable[int],
    secrets: Iterable[str] = (),
) -> None:
    """The IM robots answer HTTP 200 with ``{code_field: 0}`` on success and a non-zero code otherwise;
    ``retryable_codes`` are their rate limits and "system busy" codes, every other code is permanent."""
    if not isinstance(answer, dict) or code_field not in answer:
        raise NotifyError(f"{where}: unexpected answer (no {code_field!r})", retryable=True)
    code = answer[code_field]
    if code == 0:
        return
    msg = scrub(str(answer.get(message_field, ""))[:_BODY_SNIPPET], secrets)
    raise NotifyError(f"{where}: {code_field} {code}: {msg}", retryable=code in set(retryable_codes))
