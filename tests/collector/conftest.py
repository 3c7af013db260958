from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent.wire import SCHEMA_VERSION
from alerting.clock import FakeClock
from collector.app import create_app
from collector.settings import CollectorSettings, hash_token

TOKENS = {"his-db-01": "token-his-db-01-secret", "pacs-01": "token-pacs-01-secret"}


def report_dict(
    host: str = "his-db-01", *, timestamp: float | None = None, seq: int = 1, **over: Any
) -> dict:
    ts = time.time() if timestamp is None else timestamp
    body: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "agent": {
            "host": host,
            "version": "0.1.0",
            "labels": {"site": "main", "system": "HIS", "role": "db"},
        },
        "timestamp": ts,
        "sent_at": ts,
        "seq": seq,
        "interval_seconds": 15,
        "system": {
            "load1": 0.5,
            "load5": 0.4,
            "load15": 0.3,
            "boot_time_seconds": ts - 86400,
            "processes": 210,
            "users": 1,
            "cpu": {
                "usage_ratio": 0.25,
                "count": 8,
                "mode_ratio": {"user": 0.2, "system": 0.05, "idle": 0.75},
                "mode_seconds_total": {"user": 1000.0, "system": 200.0, "idle": 9000.0},
            },
            "memory": {"total_bytes": 16 << 30, "available_bytes": 8 << 30, "used_bytes": 8 << 30},
        },
        "filesystems": [
            {
                "mountpoint": "/data",
                "device": "/dev/sdb1",
                "fstype": "xfs",
                "size_bytes": 1000,
                "free_bytes": 100,
                "used_bytes": 900,
            }
        ],
        "interfaces": [
            {
                "interface": "eth0",
                "up": True,
                "received_bytes_total": 10,
                "sent_bytes_total": 20,
                "received_packets_total": 1,
                "sent_packets_total": 2,
                "receive_errors_total": 0,
                "transmit_errors_total": 0,
                "receive_drops_total": 0,
                "transmit_drops_total": 0,
            }
        ],
    }
    body.update(over)
    return body


def gz(obj: dict) -> bytes:
    return gzip.compress(json.dumps(obj).encode())


def auth(host: str = "his-db-01") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {TOKENS[host]}",
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }


_data_dir: list[Path] = []  # the running test's own data directory (set by the autouse fixture below)


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path: Path) -> Iterator[None]:
    """Each test's collector keeps its incident store in the test's tmp_path, never in the repository's var/."""
    _data_dir.append(tmp_path / "data")
    yield
    _data_dir.clear()


def make_settings(**over: Any) -> CollectorSettings:
    agents = [{"host": h, "token_sha256": hash_token(t)} for h, t in TOKENS.items()]
    base: dict[str, Any] = {"agents": agents}
    if _data_dir:
        base["data_dir"] = str(_data_dir[-1])
    return CollectorSettings.model_validate({**base, **over})


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def app_factory(fake_clock: FakeClock) -> Callable[..., Any]:
    def factory(**over: Any):
        return create_app(make_settings(**over), clock=fake_clock, registry=CollectorRegistry())

    return factory


@pytest.fixture
async def client(aiohttp_client, app_factory):
    return await aiohttp_client(app_factory())
