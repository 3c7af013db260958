"""Probes on this real machine: valid wire samples, plausible values, and counters that only go up.

The probes build plain dicts; every test reads them through the wire models (``agent/wire.py``), so each
one also checks that what the agent sends is what the collector accepts.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time

import psutil

from agent.collect import ReportBuilder
from agent.config import ProcessCheckConfig
from agent.probes.disks import sample_disks
from agent.probes.filesystems import PSEUDO_FSTYPES, sample_filesystems
from agent.probes.network import sample_interfaces
from agent.probes.processes import ProcessProbe
from agent.probes.sensors import sample_temperatures
from agent.probes.system import SystemProbe
from agent.report import to_json_bytes
from agent.wire import (
    DiskSample,
    FilesystemSample,
    InterfaceSample,
    ProcessCheck,
    Report,
    SystemSample,
    TemperatureSample,
)


def _burn_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_system_values_are_plausible() -> None:
    probe = SystemProbe()
    probe.sample()
    _burn_cpu(0.2)
    s = SystemSample.model_validate(probe.sample())
    assert s.cpu.count == psutil.cpu_count()
    assert 0 < s.cpu.usage_ratio <= 1  # we just burnt CPU ourselves
    assert abs(sum(s.cpu.mode_ratio.values()) - 1.0) < 1e-6
    assert s.cpu.mode_ratio["user"] > 0
    assert s.cpu.mode_seconds_total["idle"] > 0
    assert s.memory.total_bytes > 100 * 2**20
    assert 0 < s.memory.available_bytes <= s.memory.total_bytes
    assert 0 < s.memory.used_bytes <= s.memory.total_bytes
    assert s.memory.swap_used_bytes <= s.memory.swap_total_bytes
    assert 0 < s.boot_time_seconds < time.time()
    assert s.processes >= 1 and s.users >= 0
    assert s.load1 >= 0 and s.load15 >= 0


def test_cpu_ratio_covers_the_last_cycle_only() -> None:
    probe = SystemProbe()
    probe.sample()
    first = SystemSample.model_validate(probe.sample()).cpu.mode_seconds_total
    _burn_cpu(0.3)
    second = SystemSample.model_validate(probe.sample()).cpu
    busy = sum(v for k, v in second.mode_seconds_total.items() if k not in ("idle", "iowait")) - sum(
        v for k, v in first.items() if k not in ("idle", "iowait")
    )
    total = sum(second.mode_seconds_total.values()) - sum(first.values())
    assert abs(second.usage_ratio - busy / total) < 1e-6


async def test_filesystems_skip_pseudo_and_report_root() -> None:
    samples = [FilesystemSample.model_validate(s) for s in await sample_filesystems(timeout_seconds=5)]
    mounts = {s.mountpoint: s for s in samples}
    assert "/" in mounts, mounts.keys()
    root = mounts["/"]
    assert root.size_bytes > 0 and 0 <= root.free_bytes <= root.size_bytes
    assert 0 < root.used_bytes <= root.size_bytes
    st = os.statvfs("/")
    if st.f_files:
        assert root.inodes_total == st.f_files
        assert 0 <= root.inodes_free <= root.inodes_total
    assert not any(s.fstype in PSEUDO_FSTYPES for s in samples)
    assert len(mounts) == len(samples)


async def test_bind_mounts_are_counted_once() -> None:
    # Docker-style bind mounts (/etc/hosts etc.) share st_dev with their source: at most one sample per device.
    samples = [FilesystemSample.model_validate(s) for s in await sample_filesystems(timeout_seconds=5)]
    keys = [(os.stat(s.mountpoint).st_dev, os.statvfs(s.mountpoint).f_blocks) for s in samples]
    assert len(keys) == len(set(keys))


def _disks() -> dict[str, DiskSample]:
    return {d.device: d for d in map(DiskSample.model_validate, sample_disks())}


def _interfaces() -> dict[str, InterfaceSample]:
    return {n.interface: n for n in map(InterfaceSample.model_validate, sample_interfaces())}


def test_disk_and_network_counters_only_go_up(tmp_path) -> None:
    disks1, nets1 = _disks(), _interfaces()
    (tmp_path / "blob").write_bytes(os.urandom(1 << 20))
    os.sync()
    _loopback_traffic()
    disks2, nets2 = _disks(), _interfaces()
    assert nets1, "no network interfaces at all"
    assert "lo" in nets2 and nets2["lo"].up
    for name, before in nets1.items():
        after = nets2[name]
        assert after.received_bytes_total >= before.received_bytes_total
        assert after.sent_packets_total >= before.sent_packets_total
    assert nets2["lo"].sent_bytes_total > nets1["lo"].sent_bytes_total  # our own loopback traffic
    for name, before in disks1.items():
        after = disks2[name]
        assert after.written_bytes_total >= before.written_bytes_total
        assert after.io_time_seconds_total >= before.io_time_seconds_total


def _loopback_traffic() -> None:
    """Sends 64 KiB over loopback so the lo counters must move."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"x" * 65536)
                got = 0
                while got < 65536:
                    chunk = conn.recv(65536)
                    assert chunk
                    got += len(chunk)


def test_process_check_counts_matching_processes() -> None:
    marker = f"wardwatch-test-marker-{os.getpid()}"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()", marker], stdin=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        probe = ProcessProbe(
            [
                ProcessCheckConfig(name="marked", cmdline_regex=f"{marker}$"),
                ProcessCheckConfig(name="absent", process_name="no-such-process-xyz"),
            ]
        )
        probe.sample()
        _burn_cpu(0.01)
        marked, absent = map(ProcessCheck.model_validate, probe.sample())
        assert (marked.name, marked.count) == ("marked", 2)
        assert marked.rss_bytes > 2 * 2**20  # two Python interpreters
        assert marked.cpu_ratio >= 0
        assert (absent.count, absent.rss_bytes) == (0, 0)
    finally:
        for child in children:
            child.kill()
            child.communicate()


def test_process_cpu_ratio_sees_a_busy_process() -> None:
    marker = f"wardwatch-busy-{os.getpid()}"
    code = "import sys\nwhile sys.stdin.readline():\n    sum(range(3_000_000)); print(flush=True)"
    child = subprocess.Popen(
        [sys.executable, "-c", code, marker], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        probe = ProcessProbe([ProcessCheckConfig(name="busy", cmdline_regex=marker)])
        probe.sample()
        for _ in range(5):  # bounded: a handful of CPU-heavy rounds in the child
            child.stdin.write("go\n")
            child.stdin.flush()
            child.stdout.readline()
        (busy,) = map(ProcessCheck.model_validate, probe.sample())
        assert busy.count == 1
        assert busy.cpu_ratio > 0.05
    finally:
        child.kill()
        child.communicate()


def test_temperatures_match_psutil() -> None:
    samples = [TemperatureSample.model_validate(s) for s in sample_temperatures()]
    read = getattr(psutil, "sensors_temperatures", None)
    expected = sum(len(v) for v in read().values()) if read else 0
    assert len(samples) <= expected
    for s in samples:
        assert -50 < s.celsius < 150


async def test_two_cycles_make_valid_reports_with_increasing_seq(make_settings) -> None:
    builder = ReportBuilder(make_settings(labels={"site": "north", "system": "HIS"}, parent="sw-1"))
    try:
        before = time.time()
        raw1 = await builder.collect()
        await asyncio.to_thread(_burn_cpu, 0.05)
        raw2 = await builder.collect()
    finally:
        await builder.close()
    r1, r2 = Report.model_validate(raw1), Report.model_validate(raw2)
    assert (r1.seq, r2.seq) == (1, 2)
    assert before <= r1.timestamp <= r2.timestamp <= time.time()
    assert r1.sent_at is None
    assert r1.agent.host == "his-db-01"
    assert r1.agent.labels == {"site": "north", "system": "HIS"}
    assert r1.agent.parent == "sw-1"
    for key, value in r1.system.cpu.mode_seconds_total.items():
        assert r2.system.cpu.mode_seconds_total[key] >= value
    again = Report.model_validate_json(to_json_bytes(raw2))  # what goes on the wire
    assert again == r2
    assert again.model_dump(by_alias=True, exclude_none=True) == raw2  # no field lost or added


def test_process_check_by_exact_name_finds_this_test_process() -> None:
    me = psutil.Process()
    (check,) = map(
        ProcessCheck.model_validate,
        ProcessProbe([ProcessCheckConfig(name="me", process_name=me.name())]).sample(),
    )
    same_name = [p for p in psutil.process_iter(["name"]) if p.info["name"] == me.name()]
    assert check.count >= 1
    assert check.count <= len(same_name) + 1  # processes may come and go between the two scans
    assert check.rss_bytes >= me.memory_info().rss // 2
