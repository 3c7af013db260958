"""Agent footprint, side by side with Debian's prometheus-node-exporter, in one run.

    .venv/bin/python -m bench.agent_footprint [--cycles 1000] [--scrapes 1000] [--runs 3] [--interval 0.02]
                                              [--system-trust]

Agent: the real daemon (``python -m agent --config ...``, nothing stubbed) sends every report over HTTPS, with
CA verification and a bearer token, to a stand-in collector in this process (127.0.0.1, keep-alive, answers 202;
it also serves the HTTPS check's ``/health``). The agent trusts that CA through ``tls.ca_file``, or with
``--system-trust`` through the system's trust store (the system bundle plus that CA, given as SSL_CERT_FILE,
which OpenSSL loads as it would the default bundle). ``interval_seconds`` is short so that many cycles pass
quickly; the rows "+ 4 checks" add a process check by command-line regex, a port, a file glob and an HTTPS check.
The daemon validates its settings in a forked child at start-up (agent/__main__.py); that child has exited
before anything is measured, and its memory is never counted in the daemon's.

After a warm-up of 20 reports, CPU is the daemon's user+system time (``/proc/<pid>/stat``, all threads) across
``--cycles`` more reports, divided by their number: collection, JSON, gzip, the POST, the scheduling, the probe
threads. Memory is read from ``/proc/<pid>/status`` and ``smaps_rollup`` after those cycles (steady state), with
VmRSS also sampled along the way (the growth column: last sample minus the one at 10 % of the cycles) and VmHWM
(peak since start, start-up included). Each row is the median of ``--runs`` runs (min-max alongside).

node_exporter: started on 127.0.0.1 with its default collectors minus systemd (no D-Bus here), scraped N times
back to back over one keep-alive connection; CPU from /proc/<pid>/stat, memory as for the agent.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
DEADLINE_SECONDS = 300  # per run: stop early (and say so) rather than run forever
WARMUP_REPORTS = 20
TOKEN = "bench-agent-token"
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
        "file_kib": _status_kib(pid, "RssFile"),
        "pss_kib": _pss_kib(pid),
    }


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (the whole thread group)


# --- the stand-in collector -----------------------------------------------------------------------


class _Collector(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.reports = 0
        self.bad = 0
        self.errors = 0  # connections that failed on the server's side before the agent was told to stop
        self.stopping = False
        self.last_seq = 0
        self.report_bytes = 0
        self.lock = threading.Lock()
        self.url = f"https://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        # On SIGTERM the agent abandons the POST in flight: the server then writes to a closed connection.
        if not self.stopping:
            self.errors += 1
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real collector
    disable_nagle_algorithm = True  # head and body are written separately: no 40 ms delayed-ACK stall
    server: _Collector

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(200 if self.path == "/health" else 404, b'{"status": "ok"}')

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = (
            self.path == "/api/v1/reports"
            and self.headers.get("Authorization") == f"Bearer {TOKEN}"
            and self.headers.get("Content-Encoding") == "gzip"
        )
        seq = json.loads(gzip.decompress(body))["seq"] if ok else 0
        with self.server.lock:
            if ok:
                self.server.reports += 1
                self.server.last_seq = max(self.server.last_seq, seq)
                self.server.report_bytes = len(body)
            else:
                self.server.bad += 1
        self._answer(202 if ok else 401, b'{"accepted": true}' if ok else b'{"error": "bad request"}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _tls_files(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A private CA (trustme, a dev dependency) and a certificate for 127.0.0.1 signed by it."""
    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_ctx, ca_file


# --- agent side -----------------------------------------------------------------------------------


def _wait_for(condition, proc: subprocess.Popen, deadline: float, what: str) -> bool:
    while not condition():
        if proc.poll() is not None:
            raise RuntimeError(f"the agent exited with {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # polling another process's progress, bounded by the deadline
    return True


SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def measure_agent(cycles: int, *, with_checks: bool, interval: float, system_trust: bool = False) -> dict:
    """One run of the real daemon: returns CPU per cycle and memory after ``cycles`` reports."""
    folder = Path(tempfile.mkdtemp(prefix="ww-bench-agent-"))
    server_ctx, ca_file = _tls_files(folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    env["WARDWATCH_AGENT_TOKEN"] = TOKEN
    trust: dict = {"ca_file": str(ca_file)}
    if system_trust:
        bundle = folder / "system-bundle.pem"
        bundle.write_text(Path(SYSTEM_BUNDLE).read_text() + ca_file.read_text())
        env["SSL_CERT_FILE"] = str(bundle)
        trust = {}
    collector = _Collector(server_ctx)
    serving = threading.Thread(target=collector.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    checks: dict = {"temperatures": True}
    if with_checks:
        checks = {
            "processes": [{"name": "python", "cmdline_regex": "python"}],
            "ports": [{"name": "closed", "target": "127.0.0.1:9"}],
            "files": [{"name": "etc", "glob": "/etc/*.conf"}],
            "http": [{"name": "health", "url": f"{collector.url}/health", **trust}],
        }
    config = folder / "agent.yaml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "host": "bench-host",
                "collectors": [collector.url],
                "tls": trust,
                "interval_seconds": interval,
                "spool": {"dir": str(folder / "spool")},
                "log_level": "WARNING",
                "checks": checks,
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        if not _wait_for(lambda: collector.reports >= WARMUP_REPORTS, proc, deadline, "the first reports"):
            raise RuntimeError("the agent sent no reports within the deadline")
        cpu_before = _cpu_seconds(proc.pid)
        with collector.lock:
            first = collector.reports
        started = time.monotonic()
        samples = []
        for step in range(1, 11):  # RSS at every tenth of the run
            target = first + cycles * step // 10
            if not _wait_for(lambda t=target: collector.reports >= t, proc, deadline, "reports"):
                break
            samples.append(_status_kib(proc.pid, "VmRSS"))
        wall = time.monotonic() - started
        cpu = _cpu_seconds(proc.pid) - cpu_before
        with collector.lock:
            done = collector.reports - first
        memory = _memory(proc.pid)
        collector.stopping = True
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        if proc.returncode != 0 or collector.bad or collector.errors or err.strip():
            raise RuntimeError(
                f"agent exit {proc.returncode}, {collector.bad} bad requests, {collector.errors} connection "
                f"errors, its log: {err.decode()[-2000:]}"
            )
        return {
            "cycles": done,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "growth_kib": samples[-1] - samples[0] if len(samples) > 1 else 0,
            **memory,
            "report_gzip_bytes": collector.report_bytes,
        }
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        collector.shutdown()
        collector.server_close()
        shutil.rmtree(folder, ignore_errors=True)


# --- node_exporter side ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_node_exporter(scrapes: int) -> dict | None:
    if not os.access(NODE_EXPORTER, os.X_OK):
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
        first_rss = 0
        for i in range(scrapes):
            body = _scrape(conn)
            done += 1
            if i == scrapes // 10:
                first_rss = _status_kib(proc.pid, "VmRSS")
            if time.monotonic() - started > DEADLINE_SECONDS:
                break
        wall = time.monotonic() - started
        cpu = _cpu_seconds(proc.pid) - cpu_before
        conn.close()
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        memory = _memory(proc.pid)
        return {
            "scrapes": done,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "growth_kib": memory["rss_kib"] - first_rss if first_rss else 0,
            **memory,
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

COLUMNS = [  # header, how to get the value from one run, format
    ("CPU ms/cycle", lambda d: d["cpu_seconds"] * 1000 / d["count"], "{:.2f}"),
    ("RSS MiB", lambda d: d["rss_kib"] / 1024, "{:.1f}"),
    ("anon MiB", lambda d: d["anon_kib"] / 1024, "{:.1f}"),
    ("file MiB", lambda d: d["file_kib"] / 1024, "{:.1f}"),
    ("PSS MiB", lambda d: d["pss_kib"] / 1024, "{:.1f}"),
    ("peak MiB", lambda d: d["peak_rss_kib"] / 1024, "{:.1f}"),
    ("growth MiB", lambda d: d["growth_kib"] / 1024, "{:+.1f}"),
]


def _median_row(name: str, runs: list[dict]) -> tuple[str, dict[str, float], dict[str, tuple[float, float]]]:
    medians, ranges = {}, {}
    for head, get, _ in COLUMNS:
        values = [get(r) for r in runs]
        medians[head] = statistics.median(values)
        ranges[head] = (min(values), max(values))
    return name, medians, ranges


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_footprint")
    parser.add_argument("--cycles", type=int, default=1000, help="agent cycles measured per run")
    parser.add_argument("--scrapes", type=int, default=1000, help="node_exporter scrapes per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per row; the table shows the median")
    parser.add_argument("--interval", type=float, default=0.02, help="the agent's interval_seconds")
    parser.add_argument(
        "--system-trust", action="store_true", help=f"the agent trusts the collector through {SYSTEM_BUNDLE}"
    )
    args = parser.parse_args()

    rows = []
    agent_runs: dict[str, list[dict]] = {}
    for name, with_checks in (
        ("wardwatch-agent, default probes", False),
        ("wardwatch-agent + 4 checks", True),
    ):
        runs = []
        for _ in range(args.runs):
            run = measure_agent(
                args.cycles, with_checks=with_checks, interval=args.interval, system_trust=args.system_trust
            )
            runs.append({**run, "count": run["cycles"]})
        agent_runs[name] = runs
        rows.append(_median_row(name, runs))
    node_runs = []
    for _ in range(args.runs):
        run = measure_node_exporter(args.scrapes)
        if run is None:
            print(f"{NODE_EXPORTER} not installed (apt-get install prometheus-node-exporter): skipped")
            break
        node_runs.append({**run, "count": run["scrapes"]})
    if node_runs:
        rows.append(_median_row("prometheus-node-exporter", node_runs))

    trust = "the system trust store" if args.system_trust else "tls.ca_file"
    print(
        f"median of {args.runs} run(s); agent: {args.cycles} cycles at interval {args.interval:g} s after "
        f"{WARMUP_REPORTS} warm-up reports, HTTPS trusted through {trust}; node_exporter: {args.scrapes} scrapes"
    )
    print(f"{'':34} " + " ".join(f"{h:>12}" for h, _, _ in COLUMNS))
    for name, medians, ranges in rows:
        print(f"{name:34} " + " ".join(f"{fmt.format(medians[h]):>12}" for h, _, fmt in COLUMNS))
        spans = [f"{fmt.format(ranges[h][0])}-{fmt.format(ranges[h][1])}" for h, _, fmt in COLUMNS]
        print(f"{'  min-max':34} " + " ".join(f"{s:>12}" for s in spans))
    default = rows[0][1]
    checks = rows[1][1]
    report_bytes = agent_runs["wardwatch-agent, default probes"][0]["report_gzip_bytes"]
    print(f"agent report: {report_bytes} bytes gzipped")
    goal_cpu = True
    if node_runs:
        node = rows[-1][1]
        print(f"node_exporter: {node_runs[0]['series']} series per scrape")
        print(
            f"ratio agent CPU per cycle / node_exporter CPU per scrape: {default['CPU ms/cycle'] / node['CPU ms/cycle']:.2f}"
        )
        print(f"ratio agent RSS / node_exporter RSS: {default['RSS MiB'] / node['RSS MiB']:.2f}")
        goal_cpu = default["CPU ms/cycle"] < node["CPU ms/cycle"]
    goal_rss = max(default["RSS MiB"], checks["RSS MiB"]) < 40
    print(f"goals: CPU per cycle below node_exporter's per scrape: {'met' if goal_cpu else 'NOT met'}; "
          f"steady-state RSS under 40 MiB: {'met' if goal_rss else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
