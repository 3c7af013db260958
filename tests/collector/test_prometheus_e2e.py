"""A real Prometheus scrapes a running collector on loopback; what an agent sent is queryable."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from collector.app import create_app
from tests.collector.conftest import auth, gz, make_settings, report_dict
from tests.support.prometheus import run_prometheus


async def test_agent_samples_are_queryable_in_prometheus_with_labels(
    aiohttp_server, aiohttp_client, tmp_path
):
    app = create_app(make_settings(), clock=SystemClock(), registry=CollectorRegistry())
    server = await aiohttp_server(app, host="127.0.0.1")
    client = await aiohttp_client(server)
    resp = await client.post("/api/v1/reports", data=gz(report_dict(timestamp=time.time())), headers=auth())
    assert resp.status == 200

    with run_prometheus(tmp_path, [f"127.0.0.1:{server.port}"]) as prom:
        result = await asyncio.to_thread(prom.wait_for, 'wardwatch_filesystem_used_ratio{host="his-db-01"}')
        (series,) = result
        assert series["metric"] == {
            "__name__": "wardwatch_filesystem_used_ratio",
            "job": "wardwatch",
            "instance": f"127.0.0.1:{server.port}",
            "host": "his-db-01",
            "site": "main",
            "system": "HIS",
            "role": "db",
            "mountpoint": "/data",
            "device": "/dev/sdb1",
            "fstype": "xfs",
        }
        assert float(series["value"][1]) == 0.9
        up = await asyncio.to_thread(prom.query, 'wardwatch_agent_up{host="his-db-01"}')
        assert [float(s["value"][1]) for s in up] == [1.0]
        rate = await asyncio.to_thread(prom.query, "up")
        assert [s["value"][1] for s in rate] == ["1"]
