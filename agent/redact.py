"""URLs without their secrets, for reports, logs and errors (standard library only: the running agent uses it).

A URL in the settings may carry credentials: ``user:password@`` (an HTTP check's Basic authentication) or a
token in the query (``?token=``, ``?api_key=``, ``?access_token=``, a signature). What the agent reports
(the ``url`` of an HTTP check becomes a label on the collector's ``/metrics``), logs or puts in an error is
:func:`redact_url` of it: the userinfo removed, the value of every query parameter whose name looks secret
replaced by ``REDACTED``, the fragment (never sent to the server) left out. The collector applies the same
function to what an older agent sends (``agent/wire.py``).

Secrets elsewhere in a URL (a token as a path segment) cannot be told from an ordinary path: keep them out of
URLs, or in the userinfo or a query parameter with a telling name.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

REDACTED = "REDACTED"

# Query parameter names (case-insensitive, after percent-decoding) whose values are taken to be secrets. Broad
# on purpose: a harmless value shown as REDACTED costs readability, a secret on /metrics costs the secret.
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|auth|signature|credential|session|cookie|jwt|ticket"
    r"|^(pass|sig|sid|code|hash|nonce)$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"([&;])")


def is_secret_parameter(name: str) -> bool:
    return _SECRET_NAME.search(unquote(name)) is not None


def redact_url(url: str) -> str:
    """``url`` without userinfo, secret query values or fragment; everything else as written."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: nothing of it can be trusted to be harmless
        return "(unparsable URL)"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pieces = _SEPARATOR.split(query)  # fields, with the separators between them kept in place
        for i in range(0, len(pieces), 2):
            name, eq, _ = pieces[i].partition("=")
            if eq and is_secret_parameter(name):
                pieces[i] = f"{name}={REDACTED}"
        query = "".join(pieces)
    out = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme or netloc else parts.path
    return f"{out}?{query}" if query else out
