"""The rules benchmarks' estate: 1,000 agent hosts with ~120 series each, and a 200-rule set.

Shared by ``bench.rules_eval`` (the pure evaluator) and ``bench.rules_trap_latency`` (the running collector).
The leading underscore keeps ``python -m bench`` from running this module as a benchmark.

- ``host_samples``: one report of one host (CPU, memory, 8 filesystems, 4 interfaces, 3 backup checks, ...);
  a few hosts have a full ``/data`` (every 20th), a filling one (every 50th) or interface errors (every 100th).
- ``build_state``: ``hosts`` agents with ``window`` snapshots 15 s apart ending at ``end``.
- ``build_rules`` / ``write_rules_dir``: the shipped default set (``deploy/rules``) plus generated rules up to
  ``total``, mixing condition types the way a real set does (mostly thresholds; some rates, predictions,
  changes, comparisons), as ``RuleConfig`` objects or as a rules directory a collector loads.
"""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from alerting.rule_config import RuleConfig, load_rules_dir, rule_files
from collector.state import SeriesKey, Snapshot, SourceKind, SourceState, State

REPO = Path(__file__).resolve().parents[1]
SHIPPED_RULES = REPO / "deploy" / "rules"
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
MOUNTS = ["/", "/boot", "/var", "/data", "/backup", "/home", "/opt", "/srv"]
REPORT_INTERVAL = 15.0  # seconds between two reports of one host


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


def host_source(state: State, host: int) -> SourceState:
    return state.upsert_source(
        SourceKind.AGENT,
        f"host-{host:04d}",
        labels={"site": "main", "system": ["HIS", "PACS", "LIS", "EMR"][host % 4], "role": "app"},
        interval_seconds=REPORT_INTERVAL,
    )


def build_state(
    hosts: int,
    window: int,
    seed: int = 7,
    *,
    state: State | None = None,
    end: float | None = None,
    rng: random.Random | None = None,
) -> State:
    """``hosts`` agents, each with ``window`` snapshots ``REPORT_INTERVAL`` apart, the newest at ``end``
    (default ``NOW``), in ``state`` (default a new one keeping exactly ``window`` snapshots)."""
    rng = rng or random.Random(seed)
    if state is None:
        state = State(window_seconds=3600, max_snapshots=window)
    t_end = NOW.timestamp() if end is None else end
    for h in range(hosts):
        src = host_source(state, h)
        for step in range(window):
            t = t_end - (window - 1 - step) * REPORT_INTERVAL
            state.record(src, Snapshot(t, t, samples=host_samples(rng, h, step, t)))
    return state


def generated_rules(count: int) -> list[dict[str, Any]]:
    """``count`` rules as they would be written in a rule file, named ``Generated001``, ..."""
    base = {"severity": "minor", "category": "system_failure", "summary": "{host}: {value}"}
    generated: list[dict[str, Any]] = []
    i = 0
    while len(generated) < count:
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
    return generated


def build_rules(total: int) -> list[RuleConfig]:
    """The shipped rules plus generated ones up to ``total``."""
    rules = list(load_rules_dir(SHIPPED_RULES).rules)
    rules += [RuleConfig.model_validate(g) for g in generated_rules(total - len(rules))]
    return rules


def write_rules_dir(directory: Path, total: int) -> None:
    """The same set as ``build_rules(total)``, as files: the shipped ones copied, ``generated.yaml`` added."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in rule_files(SHIPPED_RULES):
        shutil.copy(path, directory / path.name)
    shipped = len(load_rules_dir(SHIPPED_RULES).rules)
    extra = generated_rules(total - shipped)
    if extra:
        (directory / "generated.yaml").write_text(yaml.safe_dump({"rules": extra}, sort_keys=False))
