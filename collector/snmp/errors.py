"""SNMP failures as exceptions, one leaf per kind the poller tells apart; ``kind`` is the short label
used in metrics, state and logs. Messages name the target, never a secret."""

from __future__ import annotations


class SnmpError(Exception):
    """Base of SNMP failures; ``kind`` is the short label used in metrics and status."""

    kind = "error"


class SnmpTimeout(SnmpError):
    kind = "timeout"  # no answer; for v2c this is also what a wrong community looks like on the wire


class SnmpBadCommunity(SnmpError):
    # v2c: no answer, while the device sends authenticationFailure traps (the poller decides this from
    # the trap receiver: an agent never answers a wrong community)
    kind = "bad_community"


class SnmpUnreachable(SnmpError):
    kind = "unreachable"  # ICMP port/host unreachable: nothing listens there


class SnmpAuthError(SnmpError):
    kind = "auth_failure"  # v3: wrong authentication password (usmStatsWrongDigests)


class SnmpUnknownUser(SnmpError):
    kind = "unknown_user"  # v3: usmStatsUnknownUserNames


class SnmpNoSuchName(SnmpError):
    kind = "no_such_name"  # nothing the profile asks for exists on the device


class SnmpErrorStatus(SnmpError):
    kind = "error_status"  # the agent answered with an error-status (genErr, tooBig, ...)


class SnmpProtocolError(SnmpError):
    kind = "protocol_error"  # other engine-level failures (decryption, time window, ...)


# What a v2c agent's silence may mean: it drops a request with a wrong community without a word.
V2C_SILENCE = "device down, or a wrong community"


def no_answer(tries: int, timeout_seconds: float, hint: str = "") -> str:
    """The message of a timeout: ``no answer (device down, or a wrong community) after 2 tries of 2s``."""
    what = f"no answer ({hint})" if hint else "no answer"
    return f"{what} after {tries} {'try' if tries == 1 else 'tries'} of {timeout_seconds:g}s"


# RFC 3416 error-status names, for messages.
ERROR_STATUS = dict(
    enumerate(
        "noError tooBig noSuchName badValue readOnly genErr noAccess wrongType wrongLength wrongEncoding "
        "wrongValue noCreation inconsistentValue resourceUnavailable commitFailed undoFailed "
        "authorizationError notWritable inconsistentName".split()
    )
)


def status_error(who: str, status: int | str, index: int) -> SnmpError:
    """The exception for an answer's error-status (a code or its RFC 3416 name)."""
    name = ERROR_STATUS.get(status, str(status)) if isinstance(status, int) else status
    if name == "noSuchName":
        return SnmpNoSuchName(f"{who}: noSuchName at varbind {index}")
    return SnmpErrorStatus(f"{who}: agent answered {name} at varbind {index}")
