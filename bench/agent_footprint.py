"""Agent footprint, side by side with Debian's prometheus-node-exporter, in one run.

    .venv/bin/python -m bench.agent_footprint [--cycles 1000] [--scrapes 1000]

Agent: a child process builds the real daemon's objects (settings, ReportBuilder, Spool, an aiohttp session
and Sender: so its RSS is the daemon's, not a stripped-down loop's), then runs N collection cycles back to
back: collect, serialize, gzip, as before a POST; no sleeping, no sending. CPU is the child's user+system
seconds across the N cycles (getrusage); RSS is VmRSS after the cycles and VmHWM (peak).
node_exporter: started on 127.0.0.1 with its default collectors minus systemd (no D-Bus here), scraped N times
back to back over one keep-alive connection; CPU from /proc/<pid>/stat, RSS from /proc/<pid>/status.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
DEADLINE_SECONDS = 300  # per side: stop early (and say so) rather than run forever
TICKS = os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int | str, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _pss_kib(pid: int | str) -> int:
    """Proportional set size: shared library pages divided among the processes that map them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _memory(pid: int | str) -> dict:
    return {
        "rss_kib": _status_kib(pid, "VmRSS"),
        "peak_rss_kib": _status_kib(pid, "VmHWM"),
        "anon_kib": _status_kib(pid, "RssAnon"),
        "pss_kib": _pss_kib(pid),
    }


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


# --- agent side (runs in a child process) ---------------------------------------------------------


def _child(cycles: int, with_checks: bool) -> None:
    import asyncio
    import gzip
    import resource

    async def run() -> dict:
        import aiohttp

        from agent.collect import ReportBuilder
        from agent.sender import Sender
        from agent.settings import AgentSettings
        from agent.settings_file import load_settings
        from agent.spool import Spool

        spool_dir = Path(tempfile.mkdtemp(prefix="ww-bench-spool-"))
        checks: dict = {}
        if with_checks:
            checks = {
                "processes": [{"name": "python", "cmdline_regex": "python"}],
                "ports": [{"name": "closed", "target": "127.0.0.1:9"}],
                "files": [{"name": "etc", "glob": "/etc/*.conf"}],
            }
        settings = load_settings(
            AgentSettings,
            None,
            collectors=["http://127.0.0.1:9"],
            token="bench",
            spool={"dir": spool_dir},
            checks=checks,
        )
        builder = ReportBuilder(settings)
        async with aiohttp.ClientSession() as session:
            Sender(settings, session, Spool(spool_dir, max_bytes=1 << 20, max_age_seconds=60))
            await builder.collect()  # warm-up: first-cycle imports and caches
            before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.monotonic()
            done = 0
            size = 0
            for _ in range(cycles):
                report = await builder.collect()
                size = len(gzip.compress(report.to_json_bytes(), compresslevel=6))
                done += 1
                if time.monotonic() - started > DEADLINE_SECONDS:
                    break
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
        await builder.close()
        shutil.rmtree(spool_dir, ignore_errors=True)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {
            "cycles": done,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            **_memory("self"),
            "report_gzip_bytes": size,
        }

    print(json.dumps(asyncio.run(run())))


def measure_agent(cycles: int, *, with_checks: bool) -> dict:
    args = [sys.executable, "-m", "bench.agent_footprint", "--child", str(cycles)]
    if with_checks:
        args.append("--with-checks")
    out = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_SECONDS + 60, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- node_exporter side ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_node_exporter(scrapes: int) -> dict | None:
    if not os.access(NODE_EXPORTER, os.X_OK):
        print(f"{NODE_EXPORTER} not installed (apt-get install prometheus-node-exporter): skipped")
        return None
    port = _free_port()
    proc = subprocess.Popen(
        [
            NODE_EXPORTER,
            f"--web.listen-address=127.0.0.1:{port}",
            "--no-collector.systemd",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        conn = _connect_when_ready(port, proc)
        body = _scrape(conn)  # warm-up scrape
        cpu_before = _cpu_seconds(proc.pid)
        started = time.monotonic()
        done = 0
        for _ in range(scrapes):
            body = _scrape(conn)
            done += 1
            if time.monotonic() - started > DEADLINE_SECONDS:
                break
        wall = time.monotonic() - started
        cpu = _cpu_seconds(proc.pid) - cpu_before
        conn.close()
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        return {
            "scrapes": done,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            **_memory(proc.pid),
            "series": series,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _connect_when_ready(port: int, proc: subprocess.Popen) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node_exporter exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.connect()
            return conn
        except OSError:
            time.sleep(0.05)  # polling a starting daemon's port, bounded by the deadline
    raise RuntimeError("node_exporter did not start listening within 15 s")


def _scrape(conn: http.client.HTTPConnection) -> bytes:
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"node_exporter answered {resp.status}")
    return body


# --- report ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_footprint")
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=1000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--with-checks", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.with_checks)
        return 0

    agent = measure_agent(args.cycles, with_checks=False)
    agent_checks = measure_agent(args.cycles, with_checks=True)
    node = measure_node_exporter(args.scrapes)

    def ms(d: dict, n: str) -> float:
        return d["cpu_seconds"] * 1000 / d[n]

    rows = [
        ("wardwatch-agent, default probes", ms(agent, "cycles"), agent, f"{agent['cycles']} cycles"),
        (
            "wardwatch-agent, + 3 checks",
            ms(agent_checks, "cycles"),
            agent_checks,
            f"{agent_checks['cycles']} cycles",
        ),
    ]
    if node:
        rows.append(("prometheus-node-exporter", ms(node, "scrapes"), node, f"{node['scrapes']} scrapes"))
    head = ["CPU ms/cycle", "CPU s/1000", "RSS MiB", "peak MiB", "anon MiB", "PSS MiB"]
    print(f"{'':34} " + " ".join(f"{h:>12}" for h in head) + "  count")
    for name, per, d, count in rows:
        mem = [d[k] / 1024 for k in ("rss_kib", "peak_rss_kib", "anon_kib", "pss_kib")]
        print(f"{name:34} {per:12.2f} {per:12.2f} " + " ".join(f"{m:12.1f}" for m in mem) + f"  {count}")
    print(f"agent report: {agent['report_gzip_bytes']} bytes gzipped")
    if node:
        print(f"node_exporter: {node['series']} series per scrape")
        base = ms(agent, "cycles")
        print(f"ratio agent CPU per cycle / node_exporter CPU per scrape: {base / ms(node, 'scrapes'):.2f}")
        print(f"ratio agent RSS / node_exporter RSS: {agent['rss_kib'] / node['rss_kib']:.2f}")
    goal_cpu = node is None or ms(agent, "cycles") < ms(node, "scrapes")
    goal_rss = agent["peak_rss_kib"] / 1024 < 40
    print(f"goals: CPU per cycle below node_exporter's per scrape: {'met' if goal_cpu else 'NOT met'}; "
          f"RSS under 40 MiB: {'met' if goal_rss else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
