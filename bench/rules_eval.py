"""Rule evaluation throughput: 1,000 hosts x 200 rules (``python -m bench.rules_eval``).

The state (``bench._rules_estate``, shared with ``bench.rules_trap_latency``) holds ``--hosts`` agents, each
with ~120 series (CPU, memory, 8 filesystems, 4 interfaces, 3 backup checks, ...) and a window of ``--window``
snapshots 15 s apart, as 5 minutes of real reports would leave it. The rules are the shipped default set plus
generated ones up to ``--rules``, mixing every condition type the way a real rule set does (mostly thresholds;
some rates, predictions, changes, comparisons).

Measured, each the median of ``--runs``:
- a full evaluation (what the runner does every tick), as time and as series x rules per second, where "series"
  is every series of every host and "rules" every rule (the nominal work a naive evaluator would do);
- the immediate path: one host's new report evaluated against all rules (what a report triggers).
"""

from __future__ import annotations

import argparse
import statistics
import time

from alerting.rules import evaluate
from bench._rules_estate import NOW, build_rules, build_state


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
