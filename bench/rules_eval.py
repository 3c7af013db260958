"""Rule evaluation throughput: 1,000 hosts x 200 rules (``python -m bench.rules_eval``).

The state holds ``--hosts`` agents, each with ~120 series (CPU, memory, 8 filesystems, 4 interfaces, 3 backup
checks, ...) and a window of ``--window`` snapshots 15 s apart, as 5 minutes of real reports would leave it. The
rules are the shipped default set plus generated ones up to ``--rules``, mixing every condition type the way a
real rule set does (mostly thresholds; some rates, predictions, changes, comparisons).

Measured, each the median of ``--runs``:
- a full evaluation (what the runner does every tick), as time and as series x rules per second, where "series"
  is every series of every host and "rules" every rule (the nominal work a naive evaluator would do);
- the immediate path: one host's new report evaluated against all rules (what a report triggers).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerting.rule_config import RuleConfig, load_rules_dir
from alerting.rules import evaluate
from collector.state import SeriesKey, Snapshot, SourceKind, State

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
MOUNTS = ["/", "/boot", "/var", "/data", "/backup", "/home", "/opt", "/srv"]


def k(name: str, **labels: str) -> SeriesKey:
    return (name, tuple(sorted(labels.items())))


def host_samples(rng: random.Random, host: int, step: int, t: float) -> dict[SeriesKey, float]:
    out: dict[SeriesKey, float] = {
        k("wardwatch_cpu_usage_ratio"): rng.random(),
        k("wardwatch_load1"): rng.random() * 4,
        k("wardwatch_load5"): rng.random() * 4,
        k("wardwatch_load15"): rng.random() * 4,
        k("wardwatch_memory_used_ratio"): 0.5 + rng.random() * 0.4,
        k("wardwatch_memory_available_bytes"): 8e9,
        k("wardwatch_swap_used_bytes"): 0.0,
        k("wardwatch_boot_time_seconds"): t - 86400 * 30,
        k("wardwatch_processes"): 200.0,
    }
    for mode in ("user", "system", "idle", "iowait"):
        out[k("wardwatch_cpu_mode_ratio", mode=mode)] = rng.random()
        out[k("wardwatch_cpu_seconds_total", mode=mode)] = 1e6 + step * 15
    for i, mount in enumerate(MOUNTS):
        labels = {"mountpoint": mount, "device": f"/dev/sd{chr(97 + i)}1", "fstype": "xfs"}
        full = 0.95 if (host % 20 == 0 and mount == "/data") else 0.3 + 0.05 * i
        ratio = full + step * (0.001 if host % 50 == 1 else 0.0)
        out[k("wardwatch_filesystem_used_ratio", **labels)] = ratio
        out[k("wardwatch_filesystem_size_bytes", **labels)] = 1e12
        out[k("wardwatch_filesystem_used_bytes", **labels)] = ratio * 1e12
        out[k("wardwatch_filesystem_free_bytes", **labels)] = (1 - ratio) * 1e12
        out[k("wardwatch_filesystem_inodes", **labels)] = 1e7
        out[k("wardwatch_filesystem_inodes_free", **labels)] = 9e6
    for i in range(4):
        labels = {"interface": f"eth{i}"}
        out[k("wardwatch_network_up", **labels)] = 1.0
        for d in ("receive", "transmit"):
            out[k(f"wardwatch_network_{d}_bytes_total", **labels)] = 1e9 + step * 1e6
            out[k(f"wardwatch_network_{d}_packets_total", **labels)] = 1e7 + step * 1e3
            errors = step * (30 if host % 100 == 2 else 0)
            out[k(f"wardwatch_network_{d}_errors_total", **labels)] = float(errors)
            out[k(f"wardwatch_network_{d}_drop_total", **labels)] = 0.0
    for check in ("his-db-daily", "pacs-daily", "weekly-archive"):
        out[k("wardwatch_file_check_files", check=check)] = 7.0
        out[k("wardwatch_file_check_newest_timestamp_seconds", check=check)] = t - 3600
        out[k("wardwatch_file_check_newest_size_bytes", check=check)] = 1e9
        out[k("wardwatch_file_check_previous_size_bytes", check=check)] = 1e9
    for name in ("his", "nginx", "postgres"):
        out[k("wardwatch_process_count", check=name)] = 3.0
        out[k("wardwatch_port_up", check=name, target=f"127.0.0.1:{5400 + len(name)}")] = 1.0
    return out


def build_state(hosts: int, window: int, seed: int = 7) -> State:
    rng = random.Random(seed)
    state = State(window_seconds=3600, max_snapshots=window)
    t_end = NOW.timestamp()
    for h in range(hosts):
        src = state.upsert_source(
            SourceKind.AGENT,
            f"host-{h:04d}",
            labels={"site": "main", "system": ["HIS", "PACS", "LIS", "EMR"][h % 4], "role": "app"},
            interval_seconds=15,
        )
        for step in range(window):
            t = t_end - (window - 1 - step) * 15
            state.record(src, Snapshot(t, t, samples=host_samples(rng, h, step, t)))
    return state


def build_rules(total: int) -> list[RuleConfig]:
    rules = [r for r in load_rules_dir(REPO / "deploy" / "rules").rules]
    base = {"severity": "minor", "category": "system_failure", "summary": "{host}: {value}"}
    generated: list[dict[str, Any]] = []
    i = 0
    while len(rules) + len(generated) < total:
        i += 1
        kind = i % 10
        sel = {"kind": "agent", "system": ["HIS", "PACS", "LIS", "EMR", "HIS|PACS"][i % 5]}
        if kind < 6:  # thresholds on various metrics
            metric, op, value = [
                ("wardwatch_filesystem_used_ratio", ">", 0.8 + (i % 10) / 100),
                ("wardwatch_memory_used_ratio", ">", 0.95),
                ("wardwatch_cpu_usage_ratio", ">", 0.98),
                ("wardwatch_load5", ">", 16.0),
                ("wardwatch_process_count", "==", 0.0),
                ("wardwatch_network_up", "==", 0.0),
            ][kind]
            cond = {"type": "threshold", "metric": metric, "op": op, "value": value}
        elif kind == 6:
            cond = {"type": "rate", "metric": "wardwatch_network_receive_errors_total", "op": ">", "value": 1}
        elif kind == 7:
            cond = {
                "type": "predict",
                "metric": "wardwatch_filesystem_used_ratio",
                "limit": 1.0,
                "hours": 4 + i % 20,
                "window": "5m",
                "min_span": "2m",
            }
        elif kind == 8:
            cond = {"type": "change", "metric": "wardwatch_boot_time_seconds", "min_delta": 60}
        else:
            cond = {
                "type": "compare",
                "metric": "wardwatch_file_check_newest_size_bytes",
                "other": "wardwatch_file_check_previous_size_bytes",
                "op": "<",
                "factor": 0.5,
            }
        generated.append({**base, "name": f"Generated{i:03d}", "select": sel, "condition": cond, "for": "1m"})
    rules += [RuleConfig.model_validate(g) for g in generated]
    return rules


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rules_eval")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--window", type=int, default=20, help="snapshots kept per host (15 s apart)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    state = build_state(args.hosts, args.window)
    rules = build_rules(args.rules)
    series = sum(len(src.latest().samples) for src in state.sources())  # type: ignore[union-attr]
    print(
        f"state: {args.hosts} hosts, {series:,} series, {args.window} snapshots each "
        f"(built in {time.perf_counter() - t0:.1f} s); {len(rules)} rules"
    )

    # first pass: everything starts pending/firing; then steady state (what every tick costs)
    transitions, states = evaluate(rules, state, NOW, {})
    full: list[float] = []
    for _ in range(args.runs):
        started = time.perf_counter()
        _, states = evaluate(rules, state, NOW, states)
        full.append(time.perf_counter() - started)
    full_s = statistics.median(full)
    one: list[float] = []
    for h in range(args.runs * 20):
        ref = ("agent", f"host-{(h * 37) % args.hosts:04d}")
        started = time.perf_counter()
        evaluate(rules, state, NOW, states, sources=[ref])
        one.append(time.perf_counter() - started)
    one.sort()
    print(f"alert instances: {len(states):,} ({len(transitions):,} transitions on the first pass)")
    print(
        f"full evaluation: median {full_s * 1000:.0f} ms of {args.runs} "
        f"(min {min(full) * 1000:.0f}, max {max(full) * 1000:.0f})"
    )
    print(
        f"  = {series * len(rules) / full_s / 1e6:.1f} M series x rules per second "
        f"({args.hosts * len(rules) / full_s:,.0f} host x rule evaluations per second)"
    )
    print(
        f"one host's report against all rules: p50 {one[len(one) // 2] * 1000:.2f} ms, "
        f"p99 {one[int(len(one) * 0.99)] * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
