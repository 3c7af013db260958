"""Trap-to-incident latency (``python -m bench.rules_trap_latency``): a linkDown datagram on the collector's trap
port -> trap receiver -> event bus -> rule runner (the shipped LinkDownTrap rule) -> incident committed in the
store (SQLite by default, ``--store DSN`` for PostgreSQL); then linkUp -> resolved.

The datagrams are recorded once from net-snmp's ``snmptrap`` (so they are real v2c traps) and replayed with a
plain UDP socket, so process start-up of ``snmptrap`` is not in the figures. The time is taken from just before
``sendto`` to when the store answers with the incident (polled every millisecond: that is the resolution).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from alerting.clock import SystemClock
from alerting.component import ALERTING
from alerting.incidents import find_open_incident
from alerting.model import Status, fingerprint_for
from collector.app import create_app
from collector.settings import CollectorSettings

REPO = Path(__file__).resolve().parents[1]
COMMUNITY = "bench-trap-community"
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record_trap(trap_oid: str) -> bytes:
    """One real v2c trap datagram from ``snmptrap``, caught on a local socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        subprocess.run(
            ["snmptrap", "-v2c", "-c", COMMUNITY, f"127.0.0.1:{port}", "", trap_oid,
             "1.3.6.1.2.1.2.2.1.1.7", "i", "7"],
            check=True, capture_output=True, timeout=10,
        )  # fmt: skip
        return sock.recv(65535)


def link_down_rule_file(directory: Path) -> None:
    network = yaml.safe_load((REPO / "deploy" / "rules" / "network.yaml").read_text())
    # LinkDownTrap names InterfaceDown in same_incident, so both go in (InterfaceDown never fires: nothing is polled)
    rules = [r for r in network["rules"] if r["name"] in ("LinkDownTrap", "InterfaceDown")]
    (directory / "traps.yaml").write_text(yaml.safe_dump({"plans": network["plans"], "rules": rules}))


async def run(trials: int, store: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rules_dir = tmp / "rules"
        rules_dir.mkdir()
        link_down_rule_file(rules_dir)
        inventory = tmp / "inventory.yaml"
        inventory.write_text(
            yaml.safe_dump(
                {
                    "devices": [
                        {
                            "name": "bench-sw",
                            "address": "127.0.0.1",
                            "port": free_udp_port(),  # nobody answers polls: only traps matter here
                            "community": COMMUNITY,
                            "interval_seconds": 3600,
                            "timeout_seconds": 0.2,
                            "retries": 0,
                            "profiles": ["system"],
                        }
                    ]
                }
            )
        )
        trap_port = free_udp_port()
        schema = f"bench_traps_{uuid.uuid4().hex[:8]}" if store else None
        # one interface going down and up again and again is flapping (the incident would stay open): not here
        alerting: dict = {"rules_dir": str(rules_dir), "flapping_transitions": 1_000_000}
        if store:
            alerting |= {"store": store, "store_schema": schema}
        settings = CollectorSettings.model_validate(
            {
                "data_dir": str(tmp / "data"),
                "snmp": {"enabled": True, "inventory_file": str(inventory), "trap_port": trap_port},
                "alerting": alerting,
            }
        )
        down, up = record_trap(LINK_DOWN), record_trap(LINK_UP)
        app = create_app(settings, clock=SystemClock(), registry=CollectorRegistry())
        runner = web.AppRunner(app)
        await runner.setup()  # starts the components (store, rule runner, trap receiver)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            incident_store = app[ALERTING].store
            assert incident_store is not None
            rule_runner = app[ALERTING].runner
            assert rule_runner is not None
            fp = fingerprint_for("LinkDownTrap", {"device": "bench-sw", "if_index": "7"})
            opened: list[float] = []
            resolved: list[float] = []
            for _ in range(trials):
                for datagram, seen, out in (
                    (down, lambda inc: inc is not None, opened),
                    (up, lambda inc: inc is None, resolved),
                ):
                    started = time.perf_counter()
                    sender.sendto(datagram, ("127.0.0.1", trap_port))
                    deadline = started + 10
                    while not seen(await find_open_incident(incident_store, fp)):
                        if time.perf_counter() > deadline:
                            raise SystemExit("no incident within 10 s: is the trap receiver up?")
                        await asyncio.sleep(0.001)
                    out.append(time.perf_counter() - started)
            total = len(await incident_store.list(limit=trials * 2))
            statuses = {i.status for i in await incident_store.list(limit=trials * 2)}
            assert total == trials and statuses == {Status.RESOLVED}, (total, statuses)
        finally:
            sender.close()
            await runner.cleanup()
            if store and schema:
                conn = await asyncpg.connect(store)
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                await conn.close()

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000

    engine = "PostgreSQL" if store else "SQLite"
    print(f"{trials} linkDown/linkUp pairs, store {engine}, {total} incidents opened and resolved")
    for name, xs in (("trap -> incident open", opened), ("trap -> incident resolved", resolved)):
        print(
            f"  {name}: p50 {pct(xs, 0.5):.1f} ms, p99 {pct(xs, 0.99):.1f} ms, "
            f"max {max(xs) * 1000:.1f} ms, mean {statistics.mean(xs) * 1000:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rules_trap_latency")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--store", help="PostgreSQL DSN (default: a SQLite file)")
    args = parser.parse_args()
    asyncio.run(run(args.trials, args.store))


if __name__ == "__main__":
    main()
