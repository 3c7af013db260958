"""Network counters per interface, with link state and speed."""

from __future__ import annotations

from typing import Any

import psutil

from agent.report import fits, without_none


def sample_interfaces() -> list[dict[str, Any]]:
    """``wire.InterfaceSample`` per interface."""
    counters = psutil.net_io_counters(pernic=True, nowrap=True)
    stats = psutil.net_if_stats()
    samples = []
    for name, c in sorted(counters.items()):
        if not fits(name):
            continue
        st = stats.get(name)
        samples.append(
            without_none(
                interface=name,
                up=bool(st and st.isup),
                speed_bits_per_second=st.speed * 1_000_000 if st and st.speed > 0 else None,
                received_bytes_total=c.bytes_recv,
                sent_bytes_total=c.bytes_sent,
                received_packets_total=c.packets_recv,
                sent_packets_total=c.packets_sent,
                receive_errors_total=c.errin,
                transmit_errors_total=c.errout,
                receive_drops_total=c.dropin,
                transmit_drops_total=c.dropout,
            )
        )
    return samples
