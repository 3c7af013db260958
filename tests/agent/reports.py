"""Small valid reports for spool and sender tests (no probing needed).

Built with the wire models (so they are valid), handed over as the dicts the running agent passes around.
"""

from typing import Any

from agent.wire import SCHEMA_VERSION, AgentInfo, CpuSample, MemorySample, Report, SystemSample


def make_report(seq: int, *, timestamp: float = 1_800_000_000.0, host: str = "his-db-01") -> dict[str, Any]:
    return make_model(seq, timestamp=timestamp, host=host).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )


def make_model(seq: int, *, timestamp: float = 1_800_000_000.0, host: str = "his-db-01") -> Report:
    return Report(
        schema_version=SCHEMA_VERSION,
        agent=AgentInfo(host=host, version="test", labels={"system": "HIS"}),
        timestamp=timestamp + seq,
        seq=seq,
        interval_seconds=15,
        system=SystemSample(
            load1=0.5,
            load5=0.4,
            load15=0.3,
            boot_time_seconds=1_799_000_000.0,
            processes=100,
            users=1,
            cpu=CpuSample(usage_ratio=0.25, mode_ratio={"user": 0.2, "idle": 0.75}, count=4),
            memory=MemorySample(total_bytes=8 << 30, available_bytes=4 << 30, used_bytes=3 << 30),
        ),
    )
