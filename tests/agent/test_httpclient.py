"""agent.httpclient against raw asyncio servers on loopback that answer exactly what each test scripts."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from agent.httpclient import Client, Origin, ProtocolError

Handler = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """Counts connections; ``handler(connection_number, reader, writer)`` scripts each one."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.url = ""
        self._tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> "RawServer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(self.connections, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One request (head and Content-Length body), or None when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


def _answer(body: bytes = b"ok", status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def _request(client: Client, url: str, **kw) -> object:
    kw.setdefault("headers", {"Authorization": "Bearer t0ken"})
    return await client.request("POST", url + "/api/v1/reports", connect_timeout=2, total_timeout=5, **kw)


async def test_keep_alive_sends_requests_on_one_connection() -> None:
    async def handler(n, reader, writer):
        while (request := await server.read_request(reader)) is not None:
            writer.write(_answer(b"seen " + request.split(b"\r\n\r\n", 1)[1]))

    client = Client()
    async with RawServer(handler) as server:
        try:
            first = await _request(client, server.url, body=b"one")
            second = await _request(client, server.url, body=b"two")
        finally:
            await client.close()
    assert (first.status, first.body, second.body) == (200, b"seen one", b"seen two")
    assert server.connections == 1
    head = server.requests[0].decode()
    assert head.startswith("POST /api/v1/reports HTTP/1.1\r\n")
    assert f"Host: {server.url.removeprefix('http://')}\r\n" in head
    assert "Content-Length: 3\r\n" in head and "Authorization: Bearer t0ken\r\n" in head


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def handler(n, reader, writer):
        await server.read_request(reader)
        writer.write(_answer())  # then closes: keep-alive allowed by the headers, ended by the server

    client = Client()
    async with RawServer(handler) as server:
        try:
            assert (await _request(client, server.url)).status == 200
            await asyncio.sleep(0.05)  # the FIN arrives
            assert (await _request(client, server.url)).status == 200
        finally:
            await client.close()
    assert server.connections == 2


async def test_a_request_that_finds_the_kept_connection_dead_is_sent_once_more_on_a_new_one() -> None:
    async def handler(n, reader, writer):
        await server.read_request(reader)
        if n == 1:
            writer.write(_answer(b"first"))
            await server.read_request(reader)  # the second request arrives, and the server hangs up on it
            return
        writer.write(_answer(b"again"))

    client = Client()
    async with RawServer(handler) as server:
        try:
            assert (await _request(client, server.url)).body == b"first"
            assert (await _request(client, server.url)).body == b"again"
        finally:
            await client.close()
    assert server.connections == 2 and len(server.requests) == 3


async def test_a_fresh_connection_closed_without_an_answer_is_an_error() -> None:
    async def handler(n, reader, writer):
        await server.read_request(reader)

    client = Client()
    async with RawServer(handler) as server:
        with pytest.raises(ConnectionResetError, match="without answering"):
            await _request(client, server.url)
    assert server.connections == 1  # not retried: nothing says the request was not processed


async def test_chunked_body_with_extensions_and_trailers_keeps_the_connection() -> None:
    async def handler(n, reader, writer):
        while await server.read_request(reader) is not None:
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n"
            )

    client = Client()
    async with RawServer(handler) as server:
        try:
            whole = await _request(client, server.url)
            cut = await _request(client, server.url, keep=7)
        finally:
            await client.close()
    assert (whole.status, whole.reason, whole.body) == (503, "Service Unavailable", b"hello, world")
    assert cut.body == b"hello, "
    assert server.connections == 1


async def test_a_body_too_big_to_drain_is_cut_and_its_connection_closed() -> None:
    big = b"x" * 200_000

    async def handler(n, reader, writer):
        while await server.read_request(reader) is not None:
            writer.write(_answer(big, "500 Internal Server Error"))
            await writer.drain()

    client = Client()
    async with RawServer(handler) as server:
        try:
            first = await _request(client, server.url)
            second = await _request(client, server.url)
        finally:
            await client.close()
    assert first.status == second.status == 500
    assert first.body == b"x" * 4096
    assert server.connections == 2  # not reused: the rest of the body was never read


async def test_a_body_delimited_by_close_and_interim_answers() -> None:
    async def handler(n, reader, writer):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")

    client = Client()
    async with RawServer(handler) as server:
        try:
            resp = await _request(client, server.url)
        finally:
            await client.close()
    assert (resp.status, resp.body, resp.headers["content-type"]) == (200, b"until the end", "text/plain")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed response header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "in the middle of the response body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 20_000 + b"\r\n\r\n", "longer than"),
        (b"HTTP/1.1 200", "in the middle of the response head"),
    ],
)
async def test_answers_that_are_not_http_are_protocol_errors(answer: bytes, error: str) -> None:
    async def handler(n, reader, writer):
        await server.read_request(reader)
        writer.write(answer)
        await writer.drain()

    client = Client()
    async with RawServer(handler) as server:
        with pytest.raises(ProtocolError, match=error):
            await _request(client, server.url)


async def test_a_server_that_never_answers_times_out_on_the_total_timeout() -> None:
    async def handler(n, reader, writer):
        await server.read_request(reader)
        await asyncio.sleep(30)  # cancelled when the test's server stops

    client = Client()
    async with RawServer(handler) as server:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.request(
                "POST", server.url, headers={}, body=b"x", connect_timeout=2, total_timeout=0.2
            )
        assert time.monotonic() - started < 2


def test_origins_from_urls() -> None:
    plain = Origin.parse("http://collector-a.hospital.local:9400/prefix?x=1")
    assert (plain.host, plain.port, plain.target, plain.host_header) == (
        "collector-a.hospital.local",
        9400,
        "/prefix?x=1",
        "collector-a.hospital.local:9400",
    )
    tls = Origin.parse("https://[::1]/")
    assert (tls.host, tls.port, tls.target, tls.host_header) == ("::1", 443, "/", "[::1]")
    assert Origin.parse("http://his").target == "/"
    auth = Origin.parse("https://monitor:p%40ss@his.example.internal/health")
    assert auth.basic_auth == "Basic bW9uaXRvcjpwQHNz"  # monitor:p@ss
    assert "p@ss" not in repr(auth) and "bW9uaXRvcjpwQHNz" not in repr(auth)
    for bad in ("ftp://x/", "http:///path", "http://host:port/"):
        with pytest.raises(ValueError):
            Origin.parse(bad)


@pytest.mark.parametrize("secret", ["s3cret\r\nX-Injected: 1", "s3cret-中文"])
async def test_a_header_that_cannot_be_sent_is_refused_without_quoting_it(secret: str) -> None:
    async def handler(n, reader, writer):
        await server.read_request(reader)

    client = Client()
    async with RawServer(handler) as server:
        with pytest.raises(ValueError) as info:
            await _request(client, server.url, headers={"Authorization": f"Bearer {secret}"})
    assert "s3cret" not in repr(info.value) and "s3cret" not in str(info.value)
    assert server.requests == []


async def test_the_request_target_is_escaped() -> None:
    async def handler(n, reader, writer):
        await server.read_request(reader)
        writer.write(_answer())

    client = Client()
    async with RawServer(handler) as server:
        try:
            await client.request(
                "GET",
                server.url + "/his portal/健康?a=1&b=%2F",
                headers={},
                connect_timeout=2,
                total_timeout=5,
            )
        finally:
            await client.close()
    assert server.requests[0].startswith(b"GET /his%20portal/%E5%81%A5%E5%BA%B7?a=1&b=%2F HTTP/1.1\r\n")
