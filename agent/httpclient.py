"""A small HTTP/1.1 client on asyncio streams: what the sender and the HTTP checks need, and no more.

aiohttp (with yarl, multidict, aiohappyeyeballs...) costs about 10 MiB of resident memory once imported, a
fifth of what the agent needs; the agent sends one small request at a time. This client does: one request at
a time per connection; request bodies with Content-Length; response bodies framed by Content-Length, chunked
transfer coding or connection close; keep-alive (an idle connection the server has closed is not reused, and
a request that finds a reused connection dead before any byte of the answer is retried once on a new one);
TLS through the caller's ``ssl.SSLContext`` (certificate and host name verified unless the context says
otherwise); a connect timeout and a total timeout. No redirects, no proxies, no cookies, no compression of
answers (it does not send ``Accept-Encoding``, so servers answer with the identity encoding).

Errors are the standard library's: ``TimeoutError``, ``OSError`` (including ``ssl.SSLError`` and
``ssl.SSLCertVerificationError``), plus :class:`ProtocolError` for answers that are not HTTP/1.x. Nothing
here logs, and no error message carries a request header (the sender's bearer token).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from agent.redact import redact_url

MAX_HEADER_LINE = 16 * 1024  # bytes per status or header line
MAX_HEADERS = 128
DRAIN_LIMIT = 64 * 1024  # past what the caller keeps, read at most this much more to reuse the connection
_CHUNK = 64 * 1024


class ProtocolError(Exception):
    """The server's answer is not valid HTTP/1.x (or ended early)."""


@dataclass(frozen=True)
class Origin:
    """Where to connect, from a URL: scheme, host, port, and the URL's path (and query) as request target."""

    scheme: str
    host: str
    port: int
    target: str
    basic_auth: str | None = field(default=None, repr=False)  # from user:password@ in the URL

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL with a host, got {redact_url(url)!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)  # ValueError if not a number
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        target = quote(target, safe="/?=&;:@!$'()*+,%-._~")  # spaces, non-ASCII: escaped; escapes kept
        auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(parts.scheme, parts.hostname, port, target, auth)

    @property
    def host_header(self) -> str:
        host = self.host.encode("idna").decode("ascii") if not self.host.isascii() else self.host
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # names in lower case; a repeated header's values joined with ", "
    body: bytes  # the first ``keep`` bytes of the body
    peercert: dict[str, Any] | None = None  # the server's verified certificate (HTTPS), as ssl.getpeercert()


class Connection:
    def __init__(self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer

    @property
    def usable(self) -> bool:
        """Not closed by either side since the last answer (a server closes idle connections)."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    @property
    def peercert(self) -> dict[str, Any] | None:
        return self.writer.get_extra_info("peercert")

    def abort(self) -> None:
        """Drop the connection at once (after an error, or one the server has closed)."""
        self.writer.transport.abort()

    async def close(self) -> None:
        """Close, waiting briefly for the TLS close_notify exchange; abort if the peer does not answer."""
        writer = self.writer
        writer.close()
        try:
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        except (TimeoutError, OSError):
            writer.transport.abort()


async def connect(
    origin: Origin, *, ssl_context: ssl.SSLContext | None, timeout_seconds: float
) -> Connection:
    tls = origin.scheme == "https"
    if tls and ssl_context is None:
        raise ValueError("an https:// URL needs an SSL context")
    async with asyncio.timeout(timeout_seconds):
        reader, writer = await asyncio.open_connection(
            origin.host,
            origin.port,
            ssl=ssl_context if tls else None,
            server_hostname=origin.host if tls else None,
            happy_eyeballs_delay=0.25,  # IPv6 and IPv4 addresses raced, as browsers and aiohttp do
            limit=MAX_HEADER_LINE,
        )
    return Connection(origin, reader, writer)


def _request_head(method: str, origin: Origin, target: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    if origin.basic_auth is not None and "Authorization" not in headers:
        lines.append(f"Authorization: {origin.basic_auth}")
    for name, value in headers.items():
        if any(c in value for c in "\r\n\0"):  # the value is not quoted: it may be a secret
            raise ValueError(f"the {name} header contains a line break or NUL")
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:  # its repr would carry the whole head, secrets included
        raise ValueError("a request header is not Latin-1 text") from None


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial:
            raise ConnectionResetError("the server closed the connection without answering") from None
        raise ProtocolError("the connection closed in the middle of the response head") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError(f"a response head line is longer than {MAX_HEADER_LINE} bytes") from None


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, int, str, dict[str, str]]:
    line = await _read_line(reader)
    version, _, rest = line.decode("latin-1").strip().partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = await _read_line(reader)
        if line in (b"\r\n", b"\n"):
            return version, int(code), reason, headers
        name, sep, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if not sep or not name:
            raise ProtocolError(f"malformed response header line: {line[:80]!r}")
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raise ProtocolError(f"more than {MAX_HEADERS} response headers")


class _Body:
    """Collects the first ``keep`` bytes of a body and counts the rest."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.parts: list[bytes] = []
        self.kept = 0
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.keep - self.kept
        if room > 0:
            self.parts.append(data[:room])
            self.kept += min(room, len(data))
        self.dropped += max(0, len(data) - max(room, 0))

    def bytes(self) -> bytes:
        return b"".join(self.parts)


async def _read_exactly(reader: asyncio.StreamReader, n: int, body: _Body) -> None:
    while n > 0:
        data = await reader.read(min(n, _CHUNK))
        if not data:
            raise ProtocolError("the connection closed in the middle of the response body")
        body.add(data)
        n -= len(data)


async def _read_chunked(reader: asyncio.StreamReader, body: _Body, limit: float) -> bool:
    """Chunked transfer coding; False when the body outgrew what we are willing to read (close instead)."""
    while True:
        size_line = (await _read_line(reader)).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line: {size_line[:40]!r}") from None
        if size == 0:
            while (await _read_line(reader)) not in (b"\r\n", b"\n"):  # trailers
                pass
            return True
        if body.kept + body.dropped + size > limit:
            return False
        await _read_exactly(reader, size, body)
        if (await _read_line(reader)).strip():
            raise ProtocolError("a chunk is longer than its size line says")


async def exchange(
    conn: Connection,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes = b"",
    *,
    keep: int = 4096,
    drain_limit: int | None = DRAIN_LIMIT,
) -> tuple[Response, bool]:
    """Send one request on ``conn`` and read the answer: (response, whether the connection can be reused).

    Only the first ``keep`` bytes of the body are kept. Past those, up to ``drain_limit`` more are read and
    thrown away so the connection can be reused (``None``: the whole body is read, as a check must).
    """
    conn.writer.write(_request_head(method, conn.origin, target, headers, body) + body)
    await conn.writer.drain()
    reader = conn.reader
    while True:
        version, status, reason, head = await _read_head(reader)
        if not 100 <= status < 200 or status == 101:
            break  # 1xx answers are interim (100 Continue, 103 Early Hints): the real one follows
    connection = head.get("connection", "").lower()
    reusable = ("close" not in connection) if version == "HTTP/1.1" else ("keep-alive" in connection)
    limit = float("inf") if drain_limit is None else keep + drain_limit
    collected = _Body(keep)
    if method == "HEAD" or status in (101, 204, 304):
        pass
    elif "chunked" in head.get("transfer-encoding", "").lower():
        if not await _read_chunked(reader, collected, limit):
            reusable = False
    elif "content-length" in head:
        try:
            length = int(head["content-length"])
        except ValueError:
            raise ProtocolError(f"bad Content-Length: {head['content-length'][:40]!r}") from None
        if length < 0:
            raise ProtocolError("negative Content-Length")
        if length > limit:
            await _read_exactly(reader, keep, collected)
            reusable = False
        else:
            await _read_exactly(reader, length, collected)
    else:  # delimited by the server closing the connection
        reusable = False
        while collected.kept + collected.dropped < limit:
            data = await reader.read(_CHUNK)
            if not data:
                break
            collected.add(data)
    response = Response(status, reason, head, collected.bytes(), conn.peercert)
    return response, reusable


class Client:
    """Keeps one idle keep-alive connection per origin; requests on one ``Client`` must not overlap."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int], Connection] = {}

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes = b"",
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float,
        total_timeout: float,
        keep: int = 4096,
    ) -> Response:
        origin = Origin.parse(url)
        async with asyncio.timeout(total_timeout):
            conn = self._idle.pop(origin.key, None)
            if conn is not None and not conn.usable:
                conn.abort()
                conn = None
            for _ in range(2):
                reused = conn is not None
                if conn is None:
                    conn = await connect(origin, ssl_context=ssl_context, timeout_seconds=connect_timeout)
                try:
                    response, reusable = await exchange(conn, method, origin.target, headers, body, keep=keep)
                except (ConnectionResetError, BrokenPipeError):
                    conn.abort()
                    conn = None
                    if reused:  # the server closed the kept-alive connection as we sent: once more, afresh
                        continue
                    raise
                except BaseException:  # timeout, cancellation, TLS or protocol error: never reused
                    conn.abort()
                    raise
                if reusable:
                    self._idle[origin.key] = conn
                else:
                    await conn.close()
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for conn in idle.values():
            with contextlib.suppress(OSError):
                await conn.close()
