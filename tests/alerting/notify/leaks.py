"""The shared check that a channel's errors and logs never carry its secrets (every channel test uses it)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Iterable

import pytest

from alerting.notify.base import NotifyError

_FMT = logging.Formatter()


async def assert_fails_without_leaking(
    attempt: Awaitable[None],
    secrets: Iterable[str],
    caplog: pytest.LogCaptureFixture,
    *,
    retryable: bool,
) -> NotifyError:
    """``attempt`` must raise ``NotifyError(retryable=...)``; none of ``secrets`` may appear in its message,
    repr, formatted traceback (causes included) or anything logged meanwhile."""
    secrets = [s for s in secrets if s]
    assert secrets, "the check needs the secrets to look for"
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(NotifyError) as info:
            await attempt
    err = info.value
    assert err.retryable is retryable, f"retryable={err.retryable}: {err}"
    texts = {
        "message": str(err),
        "repr": repr(err),
        "traceback": "".join(traceback.format_exception(err)),
        # everything logged, except the loopback receiver's own access log (the far side's, not ours)
        "logs": "\n".join(
            f"{r.name} {r.getMessage()} {_FMT.formatException(r.exc_info) if r.exc_info else ''}"
            for r in caplog.records
            if r.name != "aiohttp.access"
        ),
    }
    for secret in secrets:
        for where, text in texts.items():
            assert secret not in text, f"secret {secret[:3]}… leaked into the error's {where}: {text!r}"
    return err
