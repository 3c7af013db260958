"""Hosts: CPU, memory, filesystems (with days until full), disk I/O, network, processes and checks, clock skew.

One dashboard for every agent; the site/system/host variables narrow it down to one machine.
"""

from __future__ import annotations

from grafanalib import core as g

from dashboards import metrics as m
from dashboards.metrics import host as h
from dashboards.panels import (
    AMBER,
    GREEN,
    RATIO_USAGE,
    RED,
    SEL_HOST,
    UP_DOWN,
    UP_TEXT,
    Layout,
    asset_variables,
    dashboard,
    stat,
    steps,
    table,
    timeseries,
    variable,
)

UID = "wardwatch-hosts"
DAYS_UNTIL_FULL = "wardwatch:filesystem_days_until_full"  # recording rule (deploy/prometheus/rules/)
RATE = "$__rate_interval"
NOT_IDLE = 'mode!="idle"'


def _s(metric: str, extra: str = "") -> str:
    """``metric{site=~"$site", ..., extra}``."""
    return f"{metric}{{{SEL_HOST}{', ' + extra if extra else ''}}}"


def build() -> g.Dashboard:
    lay = Layout()
    lay.row("Overview")
    lay.add(
        stat(
            "Agent",
            [(_s(m.AGENT_UP), "{{host}}")],
            thresholds=UP_DOWN,
            mappings=[UP_TEXT],
            text_mode="value_and_name",
        ),
        6,
        4,
    )
    lay.add(
        stat(
            "CPU busy",
            [(_s(h("wardwatch_cpu_usage_ratio")), "{{host}}")],
            unit="percentunit",
            thresholds=RATIO_USAGE,
        ),
        6,
        4,
    )
    lay.add(
        stat(
            "Memory used",
            [(_s(h("wardwatch_memory_used_ratio")), "{{host}}")],
            unit="percentunit",
            thresholds=RATIO_USAGE,
        ),
        6,
        4,
    )
    lay.add(
        stat(
            "Uptime",
            [(f"time() - {_s(h('wardwatch_boot_time_seconds'))}", "{{host}}")],
            unit="s",
            thresholds=steps((None, AMBER), (3600, GREEN)),
            description="Amber during the first hour after a reboot.",
        ),
        6,
        4,
    )

    lay.row("CPU and memory")
    lay.add(
        timeseries(
            "CPU busy", [(_s(h("wardwatch_cpu_usage_ratio")), "{{host}}")], unit="percentunit", lo=0, hi=1
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "CPU by mode",
            [(f"avg by (host, mode) ({_s(h('wardwatch_cpu_mode_ratio'), NOT_IDLE)})", "{{host}} {{mode}}")],
            unit="percentunit",
            stacked=True,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Load per CPU",
            [(f"{_s(h('wardwatch_load5'))} / on (host) group_left {_s(h('wardwatch_cpus'))}", "{{host}}")],
            thresholds=steps((None, GREEN), (1, AMBER), (2, RED)),
            description="5-minute load average divided by logical CPUs: above 1 means work is queueing.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Memory used",
            [(_s(h("wardwatch_memory_used_ratio")), "{{host}}")],
            unit="percentunit",
            lo=0,
            hi=1,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Swap used",
            [
                (
                    f"{_s(h('wardwatch_swap_used_bytes'))} / on (host) ({_s(h('wardwatch_swap_total_bytes'))} > 0)",
                    "{{host}}",
                )
            ],
            unit="percentunit",
            lo=0,
            hi=1,
        ),
        12,
        8,
    )

    lay.row("Filesystems")
    fs_labels = (
        "Time",
        "__name__",
        "job",
        "instance",
        "fstype",
        "site",
        "system",
        "role",
        "department",
        "room",
        "rack",
    )
    lay.add(
        table(
            "Filesystem usage",
            [(_s(h("wardwatch_filesystem_used_ratio")), "")],
            unit="percentunit",
            thresholds=RATIO_USAGE,
            hide=fs_labels,
            rename={"Value": "Used"},
            sort_by="Used",
        ),
        12,
        9,
    )
    lay.add(
        table(
            "Days until full",
            [(f"{DAYS_UNTIL_FULL}{{{SEL_HOST}}} < 365", "")],
            unit="d",
            thresholds=steps((None, RED), (7, AMBER), (30, GREEN)),
            hide=fs_labels,
            rename={"Value": "Days"},
            sort_by="Days",
            descending=False,
            description="Free space divided by how fast it shrank over the last 6 hours (deriv); only filling filesystems.",
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Filesystem used",
            [(_s(h("wardwatch_filesystem_used_ratio")), "{{host}} {{mountpoint}}")],
            unit="percentunit",
            thresholds=RATIO_USAGE,
            lo=0,
            hi=1,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Inodes used",
            [
                (
                    f"1 - {_s(h('wardwatch_filesystem_inodes_free'))} / ({_s(h('wardwatch_filesystem_inodes'))} > 0)",
                    "{{host}} {{mountpoint}}",
                )
            ],
            unit="percentunit",
            lo=0,
            hi=1,
        ),
        12,
        8,
    )

    lay.row("Disk I/O")
    lay.add(
        timeseries(
            "Disk throughput",
            [
                (f"rate({_s(h('wardwatch_disk_read_bytes_total'))}[{RATE}])", "{{host}} {{device}} read"),
                (
                    f"-rate({_s(h('wardwatch_disk_written_bytes_total'))}[{RATE}])",
                    "{{host}} {{device}} write",
                ),
            ],
            unit="Bps",
            description="Reads up, writes down.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Disk operations",
            [
                (
                    f"rate({_s(h('wardwatch_disk_reads_completed_total'))}[{RATE}])",
                    "{{host}} {{device}} reads",
                ),
                (
                    f"-rate({_s(h('wardwatch_disk_writes_completed_total'))}[{RATE}])",
                    "{{host}} {{device}} writes",
                ),
            ],
            unit="iops",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Disk busy",
            [(f"rate({_s(h('wardwatch_disk_io_time_seconds_total'))}[{RATE}])", "{{host}} {{device}}")],
            unit="percentunit",
            thresholds=RATIO_USAGE,
            lo=0,
            hi=1,
        ),
        8,
        8,
    )

    lay.row("Network")
    lay.add(
        timeseries(
            "Traffic",
            [
                (
                    f"rate({_s(h('wardwatch_network_receive_bytes_total'))}[{RATE}]) * 8",
                    "{{host}} {{interface}} in",
                ),
                (
                    f"-rate({_s(h('wardwatch_network_transmit_bytes_total'))}[{RATE}]) * 8",
                    "{{host}} {{interface}} out",
                ),
            ],
            unit="bps",
        ),
        10,
        8,
    )
    lay.add(
        timeseries(
            "Errors and drops",
            [
                (
                    f"rate({_s(h('wardwatch_network_receive_errors_total'))}[{RATE}])"
                    f" + rate({_s(h('wardwatch_network_transmit_errors_total'))}[{RATE}])",
                    "{{host}} {{interface}} errors",
                ),
                (
                    f"rate({_s(h('wardwatch_network_receive_drop_total'))}[{RATE}])"
                    f" + rate({_s(h('wardwatch_network_transmit_drop_total'))}[{RATE}])",
                    "{{host}} {{interface}} drops",
                ),
            ],
            unit="pps",
        ),
        8,
        8,
    )
    lay.add(
        table(
            "Links",
            [(_s(h("wardwatch_network_up")), "")],
            thresholds=UP_DOWN,
            mappings=[UP_TEXT],
            hide=fs_labels,
            rename={"Value": "Link"},
            sort_by="Link",
            descending=False,
        ),
        6,
        8,
    )

    lay.row("Processes and checks")
    check_hide = (*fs_labels, "url", "target")
    lay.add(
        table(
            "Process checks",
            [(_s(h("wardwatch_process_count")), "")],
            thresholds=steps((None, RED), (1, GREEN)),
            hide=check_hide,
            rename={"check": "Check", "Value": "Processes"},
            sort_by="Processes",
            descending=False,
        ),
        6,
        8,
    )
    lay.add(
        table(
            "Port checks",
            [(_s(h("wardwatch_port_up")), "")],
            thresholds=UP_DOWN,
            mappings=[UP_TEXT],
            hide=(*fs_labels, "url"),
            rename={"check": "Check", "target": "Target", "Value": "Port"},
            sort_by="Port",
            descending=False,
        ),
        6,
        8,
    )
    lay.add(
        table(
            "HTTP checks",
            [(_s(h("wardwatch_http_up")), "")],
            thresholds=UP_DOWN,
            mappings=[UP_TEXT],
            hide=(*fs_labels, "target"),
            rename={"check": "Check", "url": "URL", "Value": "HTTP"},
            sort_by="HTTP",
            descending=False,
        ),
        6,
        8,
    )
    lay.add(
        table(
            "Checks that could not run",
            [(_s(h("wardwatch_check_error")), "")],
            thresholds=steps((None, GREEN), (1, AMBER)),
            hide=check_hide,
            rename={"check": "Check", "type": "Type", "Value": "Error"},
        ),
        6,
        8,
    )
    lay.add(
        timeseries(
            "Process CPU",
            [(_s(h("wardwatch_process_cpu_ratio")), "{{host}} {{check}} CPU")],
            unit="percentunit",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Process resident memory",
            [(_s(h("wardwatch_process_resident_memory_bytes")), "{{host}} {{check}}")],
            unit="bytes",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "HTTP response time",
            [(_s(h("wardwatch_http_duration_seconds")), "{{host}} {{check}}")],
            unit="s",
        ),
        8,
        8,
    )
    lay.add(
        table(
            "TLS certificates: days left",
            [(f"({_s(h('wardwatch_http_tls_cert_expiry_timestamp_seconds'))} - time()) / 86400", "")],
            unit="d",
            thresholds=steps((None, RED), (14, AMBER), (30, GREEN)),
            hide=(*fs_labels, "target"),
            rename={"check": "Check", "url": "URL", "Value": "Days"},
            sort_by="Days",
            descending=False,
        ),
        8,
        8,
    )
    lay.add(
        table(
            "Backups: newest file age",
            [(f"time() - {_s(h('wardwatch_file_check_newest_timestamp_seconds'))}", "")],
            unit="s",
            thresholds=steps((None, GREEN), (26 * 3600, AMBER), (50 * 3600, RED)),
            hide=check_hide,
            rename={"check": "Check", "Value": "Age"},
            sort_by="Age",
            description="Age of the newest file matching each file check (a nightly backup: amber past 26 h).",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Temperatures",
            [(_s(h("wardwatch_temperature_celsius")), "{{host}} {{sensor}} {{label}}")],
            unit="celsius",
            thresholds=steps((None, GREEN), (70, AMBER), (85, RED)),
        ),
        8,
        8,
    )

    lay.row("Agent and clock")
    lay.add(
        timeseries(
            "Clock skew",
            [(_s(m.AGENT_CLOCK_SKEW), "{{host}}")],
            unit="s",
            thresholds=steps((None, GREEN), (1, AMBER), (5, RED)),
            description="Agent clock minus collector clock: NTP trouble shows here before certificates and Kerberos fail.",
        ),
        12,
        8,
    )
    lay.add(
        table(
            "Last report",
            [(f"time() - {_s(m.AGENT_LAST_REPORT)}", "")],
            unit="s",
            thresholds=steps((None, GREEN), (60, AMBER), (300, RED)),
            hide=("Time", "__name__", "job", "instance", "role", "department", "room", "rack"),
            rename={"host": "Host", "site": "Site", "system": "System", "Value": "Age"},
            sort_by="Age",
        ),
        6,
        8,
    )
    lay.add(
        table(
            "Agent versions",
            [(f"count by (version) ({_s(m.AGENT_INFO_EXPOSED)})", "")],
            hide=("Time",),
            rename={"version": "Version", "Value": "Agents"},
            colour=None,
        ),
        6,
        8,
    )
    return dashboard(
        uid=UID,
        title="wardwatch — Hosts",
        description="Servers running the wardwatch agent.",
        layout=lay,
        templates=[
            *asset_variables(m.AGENT_UP),
            variable("host", m.AGENT_UP, depends='site=~"$site", system=~"$system"'),
        ],
        tags=["hosts"],
    )
