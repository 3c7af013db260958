from __future__ import annotations

import gzip
import json

import pytest

from collector import keys
from collector.state import SourceKind
from tests.collector.conftest import auth, gz, report_dict


async def post(client, body: bytes, headers: dict[str, str]):
    return await client.post("/api/v1/reports", data=body, headers=headers)


async def test_accepts_a_gzip_report_and_keeps_it_as_latest(client):
    resp = await post(client, gz(report_dict()), auth())
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["outcome"] == "latest"
    src = client.app[keys.STATE].get(SourceKind.AGENT, "his-db-01")
    assert src is not None and src.labels == {"site": "main", "system": "HIS", "role": "db"}
    assert (
        src.latest().samples[
            (
                "wardwatch_filesystem_used_ratio",
                (("device", "/dev/sdb1"), ("fstype", "xfs"), ("mountpoint", "/data")),
            )
        ]
        == 0.9
    )


async def test_accepts_plain_json_too(client):
    headers = {**auth(), "Content-Encoding": "identity"}
    resp = await post(client, json.dumps(report_dict()).encode(), headers)
    assert resp.status == 200


async def test_missing_token_is_401_with_json_error(client):
    resp = await post(client, gz(report_dict()), {"Content-Encoding": "gzip"})
    assert resp.status == 401
    assert "missing bearer token" in (await resp.json())["error"]


async def test_unknown_token_is_401_and_never_echoed(client):
    headers = {**auth(), "Authorization": "Bearer not-a-real-token-s3cr3t"}
    resp = await post(client, gz(report_dict()), headers)
    assert resp.status == 401
    text = await resp.text()
    assert "unknown agent token" in text and "s3cr3t" not in text


async def test_token_of_another_host_is_403_naming_the_field(client):
    resp = await post(client, gz(report_dict("his-db-01")), auth("pacs-01"))
    assert resp.status == 403
    err = (await resp.json())["error"]
    assert err.startswith("agent.host:") and "pacs-01" in err
    assert "token-pacs-01-secret" not in err


async def test_invalid_field_is_400_naming_the_field(client):
    bad = report_dict()
    bad["system"]["memory"]["total_bytes"] = -5
    resp = await post(client, gz(bad), auth())
    assert resp.status == 400
    assert "system.memory.total_bytes" in (await resp.json())["error"]


async def test_unknown_field_and_unsupported_schema_are_400(client):
    resp = await post(client, gz(report_dict(extra_thing=1)), auth())
    assert resp.status == 400 and "extra_thing" in (await resp.json())["error"]
    resp = await post(client, gz(report_dict(schema=99)), auth())
    err = (await resp.json())["error"]
    assert resp.status == 400 and "schema" in err and "99" in err


async def test_not_json_and_not_gzip_are_400(client):
    resp = await post(client, gzip.compress(b"{not json"), auth())
    assert resp.status == 400 and "invalid report" in (await resp.json())["error"]
    resp = await post(client, b"\x1f\x8bgarbage", auth())
    assert resp.status == 400 and "gzip" in (await resp.json())["error"]


async def test_oversized_body_is_413(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory(http={"max_report_bytes": 4096}))
    big = report_dict(
        filesystems=[
            {
                "mountpoint": f"/m{i}",
                "device": "d",
                "fstype": "ext4",
                "size_bytes": 1,
                "free_bytes": 1,
                "used_bytes": 0,
            }
            for i in range(200)
        ]
    )
    resp = await post(client, json.dumps(big).encode(), {**auth(), "Content-Encoding": "identity"})
    assert resp.status == 413
    # a small gzip that inflates past the limit (a zip bomb) is refused too
    resp = await post(client, gz(big), auth())
    assert resp.status == 413 and "decompression" in (await resp.json())["error"]


async def test_rejections_leave_state_and_service_intact(client):
    assert (await post(client, gz(report_dict(seq=1)), auth())).status == 200
    # aiohttp closes a connection whose body could not be decoded, so each bad post gets its own
    for body in (b"", b"\x00" * 100, gzip.compress(b"[]"), gz({"schema": 1})):
        assert (await post(client, body, {**auth(), "Connection": "close"})).status == 400
    src = client.app[keys.STATE].get(SourceKind.AGENT, "his-db-01")
    assert len(src.window) == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'wardwatch_agent_up{host="his-db-01"' in metrics
    assert 'wardwatch_collector_reports_rejected_total{reason="invalid"} 4.0' in metrics


async def test_late_spooled_reports_are_kept_in_timestamp_order(client, fake_clock):
    t0 = fake_clock.time()
    for seq, ts in ((3, t0), (1, t0 - 30), (2, t0 - 15)):
        resp = await post(client, gz(report_dict(timestamp=ts, seq=seq, sent_at=t0)), auth())
        assert resp.status == 200
    outcomes_again = await post(client, gz(report_dict(timestamp=t0 - 15, seq=2, sent_at=t0)), auth())
    assert (await outcomes_again.json())["outcome"] == "duplicate"
    src = client.app[keys.STATE].get(SourceKind.AGENT, "his-db-01")
    assert [s.timestamp for s in src.window] == [t0 - 30, t0 - 15, t0]
    assert src.latest().payload.seq == 3


@pytest.fixture
async def ingest_client(aiohttp_client, app_factory):
    """The collector without the rule runner: these tests are about ingest and /metrics. (They post many reports
    in a row, which makes a shutdown hang of the runner likely: on Python 3.11, ``asyncio.wait_for`` in
    ``RuleRunner.run`` can swallow the cancellation when a report wakes it at the same moment.)"""
    return await aiohttp_client(app_factory(alerting={"enabled": False}))


def _values(metrics: str, name: str, host: str = "his-db-01") -> list[float]:
    return [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name + "{") and f'host="{host}"' in line
    ]


def _report(ts: float, seq: int, load1: float, *, sent_at: float | None, **over) -> dict:
    body = report_dict(timestamp=ts, seq=seq, **over)
    body["system"]["load1"] = load1
    if sent_at is None:
        del body["sent_at"]
    else:
        body["sent_at"] = sent_at
    return body


async def test_a_replay_of_stale_reports_is_late_and_never_shown_as_current(ingest_client, fake_clock):
    """An older agent replays its spool oldest first and its fresh report last, to a collector that has just
    started: the replayed reports, one to ten minutes old, must not look current on /metrics."""
    now = fake_clock.time()
    labels = {"site": "old-site", "system": "HIS", "role": "db"}
    for seq, age in enumerate(range(600, 45, -60), start=1):  # 600 s .. 60 s old, resent now
        body = _report(
            now - age, seq, float(seq), sent_at=now, agent={**report_dict()["agent"], "labels": labels}
        )
        resp = await post(ingest_client, gz(body), auth())
        assert (await resp.json())["outcome"] == "late"
        metrics = await (await ingest_client.get("/metrics")).text()
        assert _values(metrics, "wardwatch_load1") == []  # no old value shown as current
        assert _values(metrics, "wardwatch_agent_up") == [0.0]
        assert _values(metrics, "wardwatch_agent_last_report_timestamp_seconds") == []
    resp = await post(ingest_client, gz(_report(now - 0.5, 99, 99.0, sent_at=now)), auth())
    assert (await resp.json())["outcome"] == "latest"
    metrics = await (await ingest_client.get("/metrics")).text()
    assert _values(metrics, "wardwatch_load1") == [99.0]
    assert _values(metrics, "wardwatch_agent_up") == [1.0]
    src = ingest_client.app[keys.STATE].get(SourceKind.AGENT, "his-db-01")
    assert len(src.window) == 11 and src.labels["site"] == "main"  # the current report's labels


async def test_a_late_report_after_the_fresh_one_changes_neither_values_nor_labels(ingest_client, fake_clock):
    now = fake_clock.time()
    assert (await (await post(ingest_client, gz(_report(now, 10, 10.0, sent_at=now)), auth())).json())[
        "outcome"
    ] == "latest"
    old_agent = {**report_dict()["agent"], "labels": {"site": "old-site"}, "version": "0.0.9"}
    for seq, age in ((1, 300), (2, 20)):  # stale, and merely older than the latest
        body = _report(now - age, seq, float(seq), sent_at=now, agent=old_agent)
        assert (await (await post(ingest_client, gz(body), auth())).json())["outcome"] == "late"
    metrics = await (await ingest_client.get("/metrics")).text()
    assert _values(metrics, "wardwatch_load1") == [10.0]
    (load,) = [line for line in metrics.splitlines() if line.startswith("wardwatch_load1{")]
    assert 'site="main"' in load
    assert 'version="0.1.0"' in metrics and "old-site" not in metrics


async def test_freshness_is_judged_on_the_agents_own_clock_so_skew_does_not_count(ingest_client, fake_clock):
    now = fake_clock.time()
    behind = now - 600  # an agent whose clock is 10 minutes slow: its fresh report is current
    resp = await post(ingest_client, gz(_report(behind, 1, 1.0, sent_at=behind + 0.2)), auth())
    assert (await resp.json())["outcome"] == "latest"
    src = ingest_client.app[keys.STATE].get(SourceKind.AGENT, "his-db-01")
    assert round(src.clock_skew_seconds) == -600
    # Without sent_at (an agent that does not send it) the collector's clock is all there is.
    resp = await post(
        ingest_client,
        gz(_report(now - 300, 2, 2.0, sent_at=None, agent={**report_dict("pacs-01")["agent"]})),
        auth("pacs-01"),
    )
    assert (await resp.json())["outcome"] == "late"
    resp = await post(
        ingest_client,
        gz(_report(now - 1, 3, 3.0, sent_at=None, agent={**report_dict("pacs-01")["agent"]})),
        auth("pacs-01"),
    )
    assert (await resp.json())["outcome"] == "latest"


async def test_credentials_in_an_http_check_url_never_reach_metrics(ingest_client):
    """Defence in depth: an older agent reports the URL as configured, user:password@ and ?token= included."""
    url = "https://monitor:Pa55w0rd-x9@emr.hospital.local:8443/health?token=t0k3n-77&ward=5#top"
    check = {"name": "emr", "url": url, "up": True, "status_code": 200, "duration_seconds": 0.02}
    assert (await post(ingest_client, gz(report_dict(http=[check])), auth())).status == 200
    metrics = await (await ingest_client.get("/metrics")).text()
    (line,) = [line for line in metrics.splitlines() if line.startswith("wardwatch_http_up{")]
    assert 'url="https://emr.hospital.local:8443/health?token=REDACTED&ward=5"' in line
    for secret in ("Pa55w0rd-x9", "t0k3n-77", "monitor:"):
        assert secret not in metrics
    src = ingest_client.app[keys.STATE].get(SourceKind.AGENT, "his-db-01")
    assert "Pa55w0rd-x9" not in src.latest().payload.model_dump_json()
