"""The sender against real aiohttp servers on loopback acting as collectors."""

import logging
import ssl
from pathlib import Path

import pytest
import trustme

from agent.sender import Outcome
from tests.agent.conftest import TOKEN, FakeCollector, ManualClock, free_port
from tests.agent.reports import make_model, make_report


async def test_posts_gzip_json_with_bearer_token(start_collector, make_settings, harness) -> None:
    collector = await start_collector()
    h = harness(make_settings(collectors=[collector.url]))
    assert await h.sender.deliver(make_report(1)) is Outcome.SENT
    (got,) = collector.received  # FakeCollector checked token, gzip and content type
    assert got.model_copy(update={"sent_at": None}) == make_model(1)
    assert got.sent_at is not None
    assert h.spooled() == []


async def test_fails_over_to_second_collector_and_remembers_it(
    start_collector, make_settings, harness
) -> None:
    first = await start_collector(FakeCollector(status=503))
    second = await start_collector()
    h = harness(make_settings(collectors=[first.url, second.url]))
    assert await h.sender.deliver(make_report(1)) is Outcome.SENT
    assert [r.seq for r in second.received] == [1]
    assert first.seen_statuses == [503]
    first.status = 200  # the first one recovers, but the sender sticks with the one that answered last
    assert await h.sender.deliver(make_report(2)) is Outcome.SENT
    assert [r.seq for r in second.received] == [1, 2]
    assert first.received == []
    assert h.sender.preferred_collector == second.url
    assert h.delays == []  # a working collector means no backoff


async def test_fails_over_when_first_collector_is_unreachable(
    start_collector, make_settings, harness
) -> None:
    live = await start_collector()
    h = harness(make_settings(collectors=[f"http://127.0.0.1:{free_port()}", live.url]))
    assert await h.sender.deliver(make_report(1)) is Outcome.SENT
    assert [r.seq for r in live.received] == [1]


async def test_spools_while_all_are_down_then_sends_the_fresh_report_first_and_replays_oldest_first(
    start_collector, make_settings, harness
) -> None:
    down = await start_collector(FakeCollector(status=503))
    settings = make_settings(
        collectors=[f"http://127.0.0.1:{free_port()}", down.url],
        retry={"attempts": 3, "backoff_base_seconds": 2, "backoff_max_seconds": 3},
    )
    h = harness(settings)
    for seq in (1, 2, 3):
        assert await h.sender.deliver(make_report(seq)) is Outcome.FAILED
    assert h.spooled() == [1, 2, 3]
    # The first report: 3 rounds over both collectors, with backoff between. Once the spool holds
    # reports, each new one joins it and one replay attempt is made per cycle (no backoff storm).
    assert down.seen_statuses == [503] * 5
    first, second = h.delays
    assert 0 <= first <= 2 and 0 <= second <= 3  # full jitter under 2 s, then under min(4, cap 3) s
    assert first != second

    down.status = 200
    before = h.clock()
    assert await h.sender.deliver(make_report(4)) is Outcome.SENT
    # The fresh report first (the collector's current values), then the backlog oldest first (kept as late).
    assert [r.seq for r in down.received] == [4, 1, 2, 3]
    assert all(r.sent_at > before for r in down.received)  # sent_at is fresh on resend
    assert h.spooled() == []


async def test_spooled_reports_survive_an_agent_restart(start_collector, make_settings, harness) -> None:
    collector = await start_collector(FakeCollector(status=503))
    settings = make_settings(collectors=[collector.url], retry={"attempts": 1})
    h = harness(settings)
    for seq in (1, 2):
        assert await h.sender.deliver(make_report(seq)) is Outcome.FAILED
    collector.status = 200
    restarted = harness(settings)  # a new agent process: new objects, same spool folder
    assert restarted.spooled() == [1, 2]
    assert await restarted.sender.deliver(make_report(1, timestamp=1_800_000_100.0)) is Outcome.SENT
    assert [(r.seq, r.timestamp) for r in collector.received] == [
        (1, 1_800_000_101.0),  # the new run's first report, then the old run's, oldest first
        (1, 1_800_000_001.0),
        (2, 1_800_000_002.0),
    ]
    assert restarted.spooled() == []


async def test_drain_stops_at_the_first_failure_and_keeps_the_rest(
    start_collector, make_settings, harness
) -> None:
    collector = await start_collector(FakeCollector(status=503))
    h = harness(make_settings(collectors=[collector.url], retry={"attempts": 1}))
    for seq in (1, 2, 3):
        await h.sender.deliver(make_report(seq))
    collector.status = 429
    assert await h.sender.drain() == 0
    assert h.spooled() == [1, 2, 3]


async def test_a_replay_gives_way_to_a_newer_report(start_collector, make_settings, harness) -> None:
    """The daemon passes ``interrupted`` = "a newer report is queued": it goes out before the rest of the replay."""
    collector = await start_collector(FakeCollector(status=503))
    h = harness(make_settings(collectors=[collector.url], retry={"attempts": 1}))
    for seq in (1, 2, 3):
        await h.sender.deliver(make_report(seq))
    collector.status = 200
    queued = iter([False, True])  # one replayed, then the next cycle's report is waiting
    assert await h.sender.deliver(make_report(4), interrupted=lambda: next(queued)) is Outcome.SENT
    assert [r.seq for r in collector.received] == [4, 1]
    assert h.spooled() == [2, 3]
    assert await h.sender.deliver(make_report(5)) is Outcome.SENT
    assert [r.seq for r in collector.received] == [4, 1, 5, 2, 3]


@pytest.mark.parametrize("status", [400, 413])
async def test_rejected_report_is_logged_and_not_spooled(
    start_collector, make_settings, harness, caplog, status
) -> None:
    collector = await start_collector(FakeCollector(status=status, error="system.cpu.count: must be >= 1"))
    h = harness(make_settings(collectors=[collector.url]))
    with caplog.at_level(logging.INFO, logger="agent"):
        assert await h.sender.deliver(make_report(1)) is Outcome.REJECTED
    assert collector.seen_statuses == [status]  # not retried
    assert h.spooled() == []
    assert "system.cpu.count: must be >= 1" in caplog.text
    assert f"HTTP {status}" in caplog.text


async def test_a_refused_token_keeps_the_report_and_the_spool_and_backs_off(
    start_collector, make_settings, harness, caplog
) -> None:
    """A collector restarted with the wrong token hash must not empty the agent's spool."""
    collector = await start_collector(FakeCollector(status=503))
    clock = ManualClock(1_800_000_000.0)
    h = harness(make_settings(collectors=[collector.url], retry={"attempts": 1}), clock=clock)
    for seq in (1, 2):
        assert await h.sender.deliver(make_report(seq)) is Outcome.FAILED
    collector.status, collector.token = 200, "the-token-whose-hash-the-collector-now-has"
    clock.advance(15)
    with caplog.at_level(logging.DEBUG):
        assert await h.sender.deliver(make_report(3)) is Outcome.REFUSED
        assert collector.seen_statuses[-1] == 401 and len(collector.seen_statuses) == 3  # no replay tried
        assert h.spooled() == [1, 2, 3]  # nothing dropped, the fresh report kept too
        (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
        message = error.getMessage()
        assert "refused this agent's token" in message and "unknown agent token" in message
        assert "'his-db-01'" in message and "kept in the spool" in message and "in 30 s" in message

        clock.advance(15)  # within the pause: the collector is left alone, the report spooled
        assert await h.sender.deliver(make_report(4)) is Outcome.REFUSED
        assert len(collector.seen_statuses) == 3
        clock.advance(16)  # the pause is over, still refused: the next pause is twice as long
        assert await h.sender.deliver(make_report(5)) is Outcome.REFUSED
        assert len(collector.seen_statuses) == 4 and "in 60 s" in caplog.records[-2].getMessage()
        assert h.spooled() == [1, 2, 3, 4, 5]

        collector.token = TOKEN  # the collector is fixed
        clock.advance(61)
        assert await h.sender.deliver(make_report(6)) is Outcome.SENT
    assert [r.seq for r in collector.received] == [6, 1, 2, 3, 4, 5]
    assert h.spooled() == []
    assert TOKEN not in caplog.text and "the-token-whose-hash" not in caplog.text
    for record in caplog.records:
        assert TOKEN not in str(record.args)


async def test_a_refused_token_fails_over_to_a_collector_that_takes_it(
    start_collector, make_settings, harness
) -> None:
    misconfigured = await start_collector(FakeCollector(token="another-token"))
    good = await start_collector()
    h = harness(make_settings(collectors=[misconfigured.url, good.url]))
    assert await h.sender.deliver(make_report(1)) is Outcome.SENT
    assert await h.sender.deliver(make_report(2)) is Outcome.SENT
    assert misconfigured.seen_statuses == [401]
    assert [r.seq for r in good.received] == [1, 2]
    assert h.delays == [] and h.spooled() == []


async def test_a_replay_drops_an_invalid_report_and_goes_on(start_collector, make_settings, harness) -> None:
    collector = await start_collector(FakeCollector(status=503))
    h = harness(make_settings(collectors=[collector.url], retry={"attempts": 1}))
    for seq in (1, 2):
        await h.sender.deliver(make_report(seq))
    collector.status = 400  # e.g. an older agent's report that this collector refuses
    assert await h.sender.drain() == 0
    assert h.spooled() == []  # each one answered "invalid": dropped, not kept forever
    assert collector.seen_statuses[-2:] == [400, 400]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def _tls_collector(
    start_collector, ca: trustme.CA, *, require_client_cert: bool = False
) -> FakeCollector:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(ctx)
    collector = await start_collector(ssl=ctx)
    assert collector.url.startswith("https://")
    return collector


async def test_tls_with_the_right_ca_and_a_client_certificate(
    start_collector, make_settings, harness, ca, tmp_path: Path
) -> None:
    collector = await _tls_collector(start_collector, ca, require_client_cert=True)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client = ca.issue_cert("his-db-01.agents.wardwatch")
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "agent.pem"))
    client.private_key_pem.write_to_path(str(tmp_path / "agent.key"))
    tls = {
        "ca_file": tmp_path / "ca.pem",
        "client_cert_file": tmp_path / "agent.pem",
        "client_key_file": tmp_path / "agent.key",
    }
    h = harness(make_settings(collectors=[collector.url], tls=tls))
    assert await h.sender.deliver(make_report(1)) is Outcome.SENT
    assert [r.seq for r in collector.received] == [1]


async def test_untrusted_certificate_refuses_to_send_and_says_why(
    start_collector, make_settings, harness, ca, caplog, tmp_path: Path
) -> None:
    collector = await _tls_collector(start_collector, ca)
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))  # a CA that did not sign it
    settings = make_settings(
        collectors=[collector.url], tls={"ca_file": tmp_path / "other-ca.pem"}, retry={"attempts": 1}
    )
    h = harness(settings)
    with caplog.at_level(logging.WARNING, logger="agent"):
        assert await h.sender.deliver(make_report(1)) is Outcome.FAILED
    assert collector.seen_statuses == []  # no request reached it: no plain or unverified fallback
    assert "refusing to send" in caplog.text
    assert "not trusted (unable to get local issuer certificate)" in caplog.text
    assert h.spooled() == [1]  # kept for a collector the agent does trust


async def test_the_token_never_reaches_logs_or_errors(
    start_collector, make_settings, harness, caplog, ca, tmp_path: Path
) -> None:
    tls_collector = await _tls_collector(start_collector, ca)
    failing = await start_collector(FakeCollector(status=500, error="internal error"))
    rejecting = await start_collector(FakeCollector(status=400))
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
    with caplog.at_level(logging.DEBUG):
        for collectors in (
            [f"http://127.0.0.1:{free_port()}"],
            [tls_collector.url],
            [failing.url],
            [rejecting.url],
        ):
            settings = make_settings(
                collectors=collectors, tls={"ca_file": tmp_path / "other-ca.pem"}, retry={"attempts": 2}
            )
            h = harness(settings)
            await h.sender.deliver(make_report(1))
            await h.sender.drain()
    assert "collector" in caplog.text  # something was logged in each case
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in str(record.args)
        if record.exc_info:
            assert TOKEN not in repr(record.exc_info[1])
