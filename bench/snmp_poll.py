"""CPU per poll of a 49-interface switch (ifTable + ifXTable, the ``interfaces`` profile), wardwatch's
poller side by side with Debian's prometheus-snmp-exporter (hand-written if_mib module, same columns,
same lookups) against the same agent in the same run.

    .venv/bin/python -m bench.snmp_poll [--agent netns|snmpsim] [--polls 50] [--profile-top 12]

Agents:
- ``netns`` (default when root and ``ip`` exist): net-snmp's snmpd in a private network namespace
  with 48 veth pairs (+ lo = a 49-row ifTable), reached over one of the pairs (10.254.0.0/30);
- ``snmpsim``: the ``core-switch`` recording (49 interfaces).

CPU is the poller's own: ``time.process_time`` for wardwatch (in-process), utime+stime from
/proc/<pid>/stat for the exporter (its HTTP scrape included, ours not). The agent's CPU is not
counted for either.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from alerting.clock import SystemClock
from collector.snmp.client import SnmpClient
from collector.snmp.inventory import parse_inventory
from collector.snmp.poller import Poller, make_target, poll_once
from collector.snmp.profiles import load_profiles
from collector.snmp.settings import SnmpSettings
from collector.snmp.simulator import free_udp_port, start_simulator
from collector.state import State

NS = f"wwbench{os.getpid()}"
COMMUNITY = "bench-ro"
V3_USER, V3_AUTH, V3_PRIV = "bench-v3", "bench-auth-pass", "bench-priv-pass"
TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def netns_snmpd() -> Iterator[tuple[str, int, str]]:
    """snmpd in a private netns with 48 veth pairs; yields (host, port, community)."""
    tmp = Path(tempfile.mkdtemp(prefix="wwbench-snmpd-"))
    created: list[str] = []

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    proc = None
    try:
        ip("netns", "add", NS)
        ip("-n", NS, "link", "set", "lo", "up")
        for i in range(48):
            ip("link", "add", f"wwb{i}", "type", "veth", "peer", "name", f"eth{i}", "netns", NS)
            created.append(f"wwb{i}")
            ip("-n", NS, "link", "set", f"eth{i}", "alias", f"bench port {i + 1}")
        ip("addr", "add", "10.254.0.1/30", "dev", "wwb0")
        ip("link", "set", "wwb0", "up")
        ip("-n", NS, "addr", "add", "10.254.0.2/30", "dev", "eth0")
        ip("-n", NS, "link", "set", "eth0", "up")
        (tmp / "conf").mkdir()
        (tmp / "persist").mkdir()
        (tmp / "conf" / "snmpd.conf").write_text(
            f"agentAddress udp:10.254.0.2:16100\nrocommunity {COMMUNITY} 10.254.0.0/30\n"
            f"createUser {V3_USER} SHA-256 {V3_AUTH} AES {V3_PRIV}\nrouser {V3_USER} priv\n"
        )
        env = {
            "SNMPCONFPATH": str(tmp / "conf"),
            "SNMP_PERSISTENT_DIR": str(tmp / "persist"),
            "PATH": "/usr/sbin:/usr/bin:/bin",
        }
        proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                NS,
                "snmpd",
                "-f",
                "-Lf",
                str(tmp / "snmpd.log"),
                "-C",
                "-c",
                str(tmp / "conf" / "snmpd.conf"),
            ],
            env=env,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(
            [
                "snmpget",
                "-v2c",
                "-c",
                COMMUNITY,
                "-t",
                "0.3",
                "-r",
                "0",
                "10.254.0.2:16100",
                "1.3.6.1.2.1.1.3.0",
            ],
            capture_output=True,
        ).returncode:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("snmpd in the netns did not answer")
            time.sleep(0.1)
        yield "10.254.0.2", 16100, COMMUNITY
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=5)
        for name in created:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def snmpsim_switch() -> Iterator[tuple[str, int, str]]:
    sim = start_simulator()
    try:
        yield sim.host, sim.port, "core-switch"
    finally:
        sim.stop()


def exporter_config(community: str) -> dict:
    """The if_mib module, by hand (0.21 format): the interfaces profile's columns and lookups."""
    profile = load_profiles()["interfaces"]
    table = profile.tables[0]
    (index,) = table.index  # if_index: the exporter's series carry the same label names as ours
    lookups = [
        {"labels": [index], "labelname": name, "oid": oid, "type": "DisplayString"}
        for name, oid in table.lookups.items()
    ]
    metrics = []
    for i, c in enumerate(table.columns):
        metrics.append(
            {
                "name": f"c{i}_{c.metric.removeprefix('wardwatch_snmp_')}",
                "oid": c.oid,
                "type": "counter" if c.type == "counter" else "gauge",
                "help": c.metric,
                "indexes": [{"labelname": index, "type": "gauge"}],
                "lookups": lookups,
            }
        )
    return {
        "if_mib": {
            "version": 2,
            "auth": {"community": community},
            "max_repetitions": 25,
            "retries": 1,
            "timeout": "5s",
            "walk": [*table.lookups.values(), *(c.oid for c in table.columns)],
            "metrics": metrics,
        }
    }


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def bench_exporter(host: str, port: int, community: str, polls: int) -> dict[str, float]:
    exe = shutil.which("prometheus-snmp-exporter")
    if exe is None:
        return {}
    tmp = Path(tempfile.mkdtemp(prefix="wwbench-exporter-"))
    (tmp / "snmp.yml").write_text(yaml.safe_dump(exporter_config(community)))
    web_port = free_udp_port()  # a free TCP port is as good a guess; checked below
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={tmp / 'snmp.yml'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{web_port}/snmp?module=if_mib&target={host}:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                body = urllib.request.urlopen(url, timeout=10).read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        series = sum(1 for line in body.splitlines() if line.startswith("c") and "if_index=" in line)
        for _ in range(3):
            urllib.request.urlopen(url, timeout=10).read()
        cpu0, wall0 = proc_cpu_seconds(proc.pid), time.perf_counter()
        for _ in range(polls):
            urllib.request.urlopen(url, timeout=10).read()
        cpu1, wall1 = proc_cpu_seconds(proc.pid), time.perf_counter()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "cpu_ms": (cpu1 - cpu0) / polls * 1000,
        "wall_ms": (wall1 - wall0) / polls * 1000,
        "series": series,
    }


async def bench_wardwatch(
    host: str, port: int, community: str, polls: int, top: int, *, fast_v2c: bool = True, v3: bool = False
) -> dict[str, object]:
    raw: dict[str, object] = {"name": "bench", "address": host, "port": port, "timeout_seconds": 5}
    if v3:
        raw |= {"version": "3", "v3": {"user": V3_USER, "auth_password": V3_AUTH, "priv_password": V3_PRIV}}
    else:
        raw["community"] = community
    device = parse_inventory({"devices": [raw]}, "bench").devices[0]
    target = make_target(device, SnmpSettings())
    profiles = [load_profiles()["interfaces"]]
    client = SnmpClient(fast_v2c=fast_v2c, fast_v3=fast_v2c)
    try:
        result = None
        for _ in range(3):
            result = await poll_once(client, target, profiles)
        assert result is not None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(polls):
            await poll_once(client, target, profiles)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        # Concurrency: 20 polls in flight (the agent, single-threaded, is the limit for wall time).
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(poll_once(client, target, profiles) for _ in range(20)))
        c1, w1 = time.process_time(), time.perf_counter()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(10):
            await poll_once(client, target, profiles)
        profiler.disable()
    finally:
        client.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    rows = len(result.rows["ifTable"])
    varbinds = rows * len(profiles[0].tables[0].walk_oids()) + 1
    return {
        "cpu_ms": (cpu1 - cpu0) / polls * 1000,
        "wall_ms": (wall1 - wall0) / polls * 1000,
        "concurrent_cpu_ms": (c1 - c0) / 20 * 1000,
        "concurrent_wall_s": w1 - w0,
        "rows": rows,
        "series": len(result.samples),
        "varbinds": varbinds,
        "profile": out.getvalue(),
    }


async def bench_many(host: str, port: int, community: str, devices: int) -> dict[str, float]:
    """``devices`` inventory entries (all the same agent) polled in one round by the Poller, with its
    concurrency limit and state writes: devices × varbinds per second, wall and CPU."""
    inventory = parse_inventory(
        {
            "devices": [
                {
                    "name": f"sw{i:04d}",
                    "address": host,
                    "port": port,
                    "community": community,
                    "timeout_seconds": 10,
                    "profiles": ["interfaces"],
                }
                for i in range(devices)
            ]
        },
        "bench",
    )
    client = SnmpClient()
    poller = Poller(
        client=client,
        state=State(),
        clock=SystemClock(),
        inventory=inventory,
        profiles=load_profiles(),
        settings=SnmpSettings(),
    )
    try:
        await poller.poll(inventory.devices[0].name)  # warm up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        statuses = await poller.poll_all()
        cpu1, wall1 = time.process_time(), time.perf_counter()
    finally:
        client.close()
    ok = sum(1 for st in statuses if st.up)
    return {"devices": devices, "ok": ok, "wall_s": wall1 - wall0, "cpu_s": cpu1 - cpu0}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.snmp_poll")
    default_agent = (
        "netns" if os.geteuid() == 0 and shutil.which("ip") and shutil.which("snmpd") else "snmpsim"
    )
    parser.add_argument("--agent", choices=["netns", "snmpsim"], default=default_agent)
    parser.add_argument("--polls", type=int, default=50)
    parser.add_argument("--profile-top", type=int, default=12)
    parser.add_argument(
        "--devices", type=int, default=200, help="devices polled together in the throughput round"
    )
    args = parser.parse_args()
    agent = netns_snmpd() if args.agent == "netns" else snmpsim_switch()
    with agent as (host, port, community):
        ours = asyncio.run(bench_wardwatch(host, port, community, args.polls, args.profile_top))
        via_pysnmp = asyncio.run(bench_wardwatch(host, port, community, args.polls, 0, fast_v2c=False))
        v3_rows = []
        if args.agent == "netns":
            for fast in (True, False):
                v3_rows.append(
                    asyncio.run(bench_wardwatch(host, port, community, args.polls, 0, fast_v2c=fast, v3=True))
                )
        theirs = bench_exporter(host, port, community, args.polls)
        many = asyncio.run(bench_many(host, port, community, args.devices))
    print(
        f"agent: {args.agent} ({host}:{port}), {ours['rows']} interfaces, {ours['varbinds']} varbinds per poll, {args.polls} polls each"
    )
    print(f"{'poller':<34} {'CPU ms/poll':>12} {'wall ms/poll':>13} {'series':>7}")
    print(
        f"{'wardwatch (v2c BER codec)':<34} {ours['cpu_ms']:>12.1f} {ours['wall_ms']:>13.1f} {ours['series']:>7}"
    )
    print(
        f"{'wardwatch via pysnmp/pyasn1':<34} {via_pysnmp['cpu_ms']:>12.1f} {via_pysnmp['wall_ms']:>13.1f} {via_pysnmp['series']:>7}"
    )
    for label, row in zip(
        ("wardwatch v3 authPriv (usm.py)", "wardwatch v3 authPriv via pysnmp"), v3_rows, strict=False
    ):
        print(f"{label:<34} {row['cpu_ms']:>12.1f} {row['wall_ms']:>13.1f} {row['series']:>7}")
    if theirs:
        print(
            f"{'prometheus-snmp-exporter 0.21':<34} {theirs['cpu_ms']:>12.1f} {theirs['wall_ms']:>13.1f} {theirs['series']:>7}"
        )
    cpu_s = float(ours["cpu_ms"]) / 1000  # type: ignore[arg-type]
    print(
        f"wardwatch: {float(ours['varbinds']) / cpu_s:,.0f} varbinds per CPU-second; "  # type: ignore[arg-type]
        f"1,000 such switches every 60 s need {1000 * cpu_s / 60:.2f} cores; "
        f"20 concurrent polls: {ours['concurrent_cpu_ms']:.1f} CPU ms/poll, {ours['concurrent_wall_s']:.2f} s wall"
    )
    varbinds = float(ours["varbinds"])  # type: ignore[arg-type]
    print(
        f"{many['devices']:.0f} devices polled together by the Poller (all on this one agent; {many['ok']:.0f} ok): "
        f"{many['wall_s']:.2f} s wall, {many['cpu_s']:.2f} s CPU → "
        f"{many['ok'] * varbinds / many['wall_s']:,.0f} varbinds/s wall, "
        f"{many['ok'] * varbinds / many['cpu_s']:,.0f} varbinds per CPU-second"
    )
    print("\nwhere wardwatch's CPU goes (v2c BER codec, 10 polls, by own time):")
    print(ours["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
