"""Ingest: reports per second one collector process (pinned to one core) accepts from simulated
agents sending ~100-series reports, with client-side p50/p99 latency, and collector CPU per report.

    .venv/bin/python -m bench.ingest [--agents 200] [--reports 20000] [--concurrency 64]

The load generator runs in this process on the other core with pre-built gzip bodies. Because the
load generator can itself be the limit on a 2-core machine, the figure that says what one core of
collector can do is ``reports per collector CPU-second`` (CPU read from /proc/<pid>/stat).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

from collector.settings import hash_token

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(host: str, ts: float, seq: int) -> dict:
    """~100 series once flattened: system (~25), 4 filesystems, 2 disks, 4 interfaces."""
    return {
        "schema": 1,
        "agent": {
            "host": host,
            "version": "bench",
            "labels": {"site": "main", "system": "HIS", "role": "app"},
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
            "processes": 200,
            "users": 1,
            "cpu": {
                "usage_ratio": 0.2,
                "count": 8,
                "mode_ratio": {
                    m: 0.1 for m in ("user", "system", "idle", "iowait", "irq", "softirq", "steal")
                },
                "mode_seconds_total": {
                    m: 1000.0 + seq for m in ("user", "system", "idle", "iowait", "irq", "softirq", "steal")
                },
            },
            "memory": {
                "total_bytes": 1 << 34,
                "available_bytes": 1 << 33,
                "used_bytes": 1 << 33,
                "swap_total_bytes": 1 << 30,
                "swap_used_bytes": 0,
            },
        },
        "filesystems": [
            {
                "mountpoint": f"/fs{i}",
                "device": f"/dev/sd{i}",
                "fstype": "xfs",
                "size_bytes": 10**12,
                "free_bytes": 10**11,
                "used_bytes": 9 * 10**11,
                "inodes_total": 10**6,
                "inodes_free": 10**5,
            }
            for i in range(4)
        ],
        "disks": [
            {
                "device": f"sd{i}",
                "read_bytes_total": seq * 4096,
                "written_bytes_total": seq * 8192,
                "reads_total": seq,
                "writes_total": seq * 2,
                "io_time_seconds_total": seq * 0.01,
            }
            for i in range(2)
        ],
        "interfaces": [
            {
                "interface": f"eth{i}",
                "up": True,
                "speed_bits_per_second": 1e9,
                "received_bytes_total": seq * 1000,
                "sent_bytes_total": seq * 900,
                "received_packets_total": seq * 10,
                "sent_packets_total": seq * 9,
                "receive_errors_total": 0,
                "transmit_errors_total": 0,
                "receive_drops_total": 0,
                "transmit_drops_total": 0,
            }
            for i in range(4)
        ],
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(
    port: int, tokens: dict[str, str], total: int, concurrency: int, time_limit: float
) -> tuple[list[float], float, int]:
    hosts = list(tokens)
    t0 = time.time() - total  # distinct, increasing timestamps per host
    bodies = []
    for i in range(total):
        host = hosts[i % len(hosts)]
        bodies.append((host, gzip.compress(json.dumps(report(host, t0 + i, i)).encode(), 1)))
    url = f"http://127.0.0.1:{port}/api/v1/reports"
    latencies: list[float] = []
    errors = 0
    next_i = 0
    deadline = time.monotonic() + time_limit

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_i, errors
        while next_i < total and time.monotonic() < deadline:
            host, body = bodies[next_i]
            next_i += 1
            headers = {
                "Authorization": f"Bearer {tokens[host]}",
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            }
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - start)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()

    tokens = {f"bench-{i:04d}": f"bench-token-{i:04d}-{os.urandom(8).hex()}" for i in range(args.agents)}
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="ww-bench-ingest-"))
    cfg = tmp / "collector.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp),
                "log_level": "WARNING",
                "http": {"host": "127.0.0.1", "port": port},
                "agents": [{"host": h, "token_sha256": hash_token(t)} for h, t in tokens.items()],
            }
        )
    )
    cmd = [sys.executable, "-m", "collector.cli", "collector", "run", "--config", str(cfg)]
    if os.cpu_count() and os.cpu_count() >= 2:
        cmd = ["taskset", "-c", "0", *cmd]
        os.sched_setaffinity(0, {1})
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        rows = []
        for run in range(args.runs):
            cpu0 = cpu_seconds(proc.pid)
            lat, elapsed, errors = asyncio.run(
                load(port, tokens, args.reports, args.concurrency, args.time_limit)
            )
            cpu = cpu_seconds(proc.pid) - cpu0
            lat.sort()
            n = len(lat)
            rows.append(
                {
                    "run": run + 1,
                    "reports": n,
                    "errors": errors,
                    "rps": n / elapsed,
                    "p50_ms": lat[n // 2] * 1000,
                    "p99_ms": lat[int(n * 0.99)] * 1000,
                    "per_cpu_s": n / cpu if cpu else float("nan"),
                    "cpu_us": cpu / n * 1e6,
                }
            )
            print(
                f"run {run + 1}: {n} reports in {elapsed:.2f}s = {n / elapsed:.0f}/s, errors {errors}, "
                f"p50 {rows[-1]['p50_ms']:.2f} ms, p99 {rows[-1]['p99_ms']:.2f} ms, "
                f"collector CPU {rows[-1]['cpu_us']:.0f} µs/report = {rows[-1]['per_cpu_s']:.0f} reports per CPU-second",
                flush=True,
            )
        # /metrics with the state of `agents` hosts
        t = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            size = len(r.read())
        print(
            f"/metrics after the runs: {size / 1e6:.1f} MB in {time.perf_counter() - t:.3f}s; collector RSS {rss_mib(proc.pid):.0f} MiB"
        )
        med = {
            k: statistics.median(r[k] for r in rows)
            for k in ("rps", "p50_ms", "p99_ms", "per_cpu_s", "cpu_us")
        }
        print(f"\n| metric (median of {len(rows)} runs) | wardwatch | goal | ratio to goal |")
        print("|---|---|---|---|")
        print(f"| reports/s accepted (client-limited) | {med['rps']:.0f} | 2000 | {med['rps'] / 2000:.2f} |")
        print(
            f"| reports per collector CPU-second (one core) | {med['per_cpu_s']:.0f} | 2000 | {med['per_cpu_s'] / 2000:.2f} |"
        )
        print(f"| collector CPU per report | {med['cpu_us']:.0f} µs | 500 µs | |")
        print(f"| latency p50 / p99 | {med['p50_ms']:.2f} / {med['p99_ms']:.2f} ms | | |")
        return 0 if all(r["errors"] == 0 for r in rows) else 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
