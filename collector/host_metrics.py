"""Host metrics: the names, types and help of what an agent report becomes, and the translation.

One table (``HOST_METRICS``) names every metric once; ``flatten_report`` turns a ``Report`` into
``{SeriesKey: value}`` for the state. Dashboards and rules import the names from here.
"""

from __future__ import annotations

from agent.wire import Report
from collector.catalog import MetricCatalog, MetricType
from collector.state import SeriesKey

G, C = MetricType.GAUGE, MetricType.COUNTER

HOST_METRICS: dict[str, tuple[MetricType, str]] = {
    # system
    "wardwatch_cpu_usage_ratio": (G, "CPU busy ratio over the agent's last cycle, all CPUs (0..1)."),
    "wardwatch_cpu_mode_ratio": (G, "CPU time ratio by mode over the agent's last cycle."),
    "wardwatch_cpu_seconds_total": (C, "CPU seconds by mode, summed over CPUs, since boot."),
    "wardwatch_cpus": (G, "Logical CPUs."),
    "wardwatch_load1": (G, "1-minute load average."),
    "wardwatch_load5": (G, "5-minute load average."),
    "wardwatch_load15": (G, "15-minute load average."),
    "wardwatch_memory_total_bytes": (G, "Physical memory."),
    "wardwatch_memory_available_bytes": (G, "Memory available for new work without swapping."),
    "wardwatch_memory_used_bytes": (G, "Memory in use."),
    "wardwatch_memory_used_ratio": (G, "1 - available / total."),
    "wardwatch_swap_total_bytes": (G, "Swap space."),
    "wardwatch_swap_used_bytes": (G, "Swap in use."),
    "wardwatch_boot_time_seconds": (G, "Unix time the host booted."),
    "wardwatch_processes": (G, "Processes running on the host."),
    "wardwatch_users_logged_in": (G, "Logged-in user sessions."),
    # filesystems
    "wardwatch_filesystem_size_bytes": (G, "Filesystem size."),
    "wardwatch_filesystem_free_bytes": (G, "Filesystem space available to unprivileged users."),
    "wardwatch_filesystem_used_bytes": (G, "Filesystem space used."),
    "wardwatch_filesystem_used_ratio": (G, "used / (used + free), as df shows it."),
    "wardwatch_filesystem_inodes": (G, "Filesystem inodes."),
    "wardwatch_filesystem_inodes_free": (G, "Filesystem free inodes."),
    # disks
    "wardwatch_disk_read_bytes_total": (C, "Bytes read from the disk."),
    "wardwatch_disk_written_bytes_total": (C, "Bytes written to the disk."),
    "wardwatch_disk_reads_completed_total": (C, "Reads completed."),
    "wardwatch_disk_writes_completed_total": (C, "Writes completed."),
    "wardwatch_disk_io_time_seconds_total": (C, "Seconds the disk was busy."),
    # network
    "wardwatch_network_up": (G, "1 if the interface link is up."),
    "wardwatch_network_speed_bytes": (G, "Interface link speed in bytes per second."),
    "wardwatch_network_receive_bytes_total": (C, "Bytes received."),
    "wardwatch_network_transmit_bytes_total": (C, "Bytes sent."),
    "wardwatch_network_receive_packets_total": (C, "Packets received."),
    "wardwatch_network_transmit_packets_total": (C, "Packets sent."),
    "wardwatch_network_receive_errors_total": (C, "Receive errors."),
    "wardwatch_network_transmit_errors_total": (C, "Transmit errors."),
    "wardwatch_network_receive_drop_total": (C, "Received packets dropped."),
    "wardwatch_network_transmit_drop_total": (C, "Transmitted packets dropped."),
    # configured checks
    "wardwatch_process_count": (G, "Processes matching a process check."),
    "wardwatch_process_cpu_ratio": (G, "CPU used by the matching processes (1 = one core)."),
    "wardwatch_process_resident_memory_bytes": (G, "Resident memory of the matching processes."),
    "wardwatch_port_up": (G, "1 if a TCP connect to the port succeeded."),
    "wardwatch_port_connect_duration_seconds": (G, "Time the TCP connect took."),
    "wardwatch_http_up": (G, "1 if the URL answered with the expected status."),
    "wardwatch_http_status_code": (G, "HTTP status code of the last check."),
    "wardwatch_http_duration_seconds": (G, "Time the HTTP check took."),
    "wardwatch_http_tls_cert_expiry_timestamp_seconds": (G, "Unix time the URL's TLS certificate expires."),
    "wardwatch_file_check_files": (G, "Files matching a file (backup) check's glob."),
    "wardwatch_file_check_newest_timestamp_seconds": (G, "Modification time of the newest matching file."),
    "wardwatch_file_check_newest_size_bytes": (G, "Size of the newest matching file."),
    "wardwatch_file_check_previous_size_bytes": (G, "Size of the second-newest matching file."),
    "wardwatch_check_error": (G, "1 while a configured check could not run (see the agent's log)."),
    "wardwatch_temperature_celsius": (G, "Temperature reported by a hardware sensor."),
    "wardwatch_temperature_high_celsius": (G, "The sensor's high threshold."),
    "wardwatch_temperature_critical_celsius": (G, "The sensor's critical threshold."),
}

# Per-agent metrics computed from the source state rather than a report.
AGENT_UP = "wardwatch_agent_up"
AGENT_LAST_REPORT = "wardwatch_agent_last_report_timestamp_seconds"
AGENT_CLOCK_SKEW = "wardwatch_agent_clock_skew_seconds"
AGENT_INFO = "wardwatch_agent"  # exposed as wardwatch_agent_info


def declare_host_metrics(catalog: MetricCatalog) -> None:
    for name, (type_, help_) in HOST_METRICS.items():
        catalog.declare(name, type_, help_)


def _k(name: str, *pairs: tuple[str, str]) -> SeriesKey:
    return (name, tuple(sorted(pairs)))


def flatten_report(r: Report) -> dict[SeriesKey, float]:
    """Every value of a report as ``{SeriesKey: float}``. Runs once per report, lazily."""
    out: dict[SeriesKey, float] = {}
    s = r.system
    cpu = s.cpu
    out[("wardwatch_cpu_usage_ratio", ())] = cpu.usage_ratio
    out[("wardwatch_cpus", ())] = cpu.count
    for mode, v in cpu.mode_ratio.items():
        out[("wardwatch_cpu_mode_ratio", (("mode", mode),))] = v
    for mode, v in cpu.mode_seconds_total.items():
        out[("wardwatch_cpu_seconds_total", (("mode", mode),))] = v
    out[("wardwatch_load1", ())] = s.load1
    out[("wardwatch_load5", ())] = s.load5
    out[("wardwatch_load15", ())] = s.load15
    m = s.memory
    out[("wardwatch_memory_total_bytes", ())] = m.total_bytes
    out[("wardwatch_memory_available_bytes", ())] = m.available_bytes
    out[("wardwatch_memory_used_bytes", ())] = m.used_bytes
    if m.total_bytes:
        out[("wardwatch_memory_used_ratio", ())] = 1.0 - m.available_bytes / m.total_bytes
    out[("wardwatch_swap_total_bytes", ())] = m.swap_total_bytes
    out[("wardwatch_swap_used_bytes", ())] = m.swap_used_bytes
    out[("wardwatch_boot_time_seconds", ())] = s.boot_time_seconds
    out[("wardwatch_processes", ())] = s.processes
    out[("wardwatch_users_logged_in", ())] = s.users

    for fs in r.filesystems:
        lk = (("device", fs.device), ("fstype", fs.fstype), ("mountpoint", fs.mountpoint))
        out[("wardwatch_filesystem_size_bytes", lk)] = fs.size_bytes
        out[("wardwatch_filesystem_free_bytes", lk)] = fs.free_bytes
        out[("wardwatch_filesystem_used_bytes", lk)] = fs.used_bytes
        denominator = fs.used_bytes + fs.free_bytes
        if denominator:
            out[("wardwatch_filesystem_used_ratio", lk)] = fs.used_bytes / denominator
        if fs.inodes_total is not None:
            out[("wardwatch_filesystem_inodes", lk)] = fs.inodes_total
        if fs.inodes_free is not None:
            out[("wardwatch_filesystem_inodes_free", lk)] = fs.inodes_free

    for d in r.disks:
        lk = (("device", d.device),)
        out[("wardwatch_disk_read_bytes_total", lk)] = d.read_bytes_total
        out[("wardwatch_disk_written_bytes_total", lk)] = d.written_bytes_total
        out[("wardwatch_disk_reads_completed_total", lk)] = d.reads_total
        out[("wardwatch_disk_writes_completed_total", lk)] = d.writes_total
        out[("wardwatch_disk_io_time_seconds_total", lk)] = d.io_time_seconds_total

    for n in r.interfaces:
        lk = (("interface", n.interface),)
        out[("wardwatch_network_up", lk)] = 1.0 if n.up else 0.0
        if n.speed_bits_per_second is not None:
            out[("wardwatch_network_speed_bytes", lk)] = n.speed_bits_per_second / 8
        out[("wardwatch_network_receive_bytes_total", lk)] = n.received_bytes_total
        out[("wardwatch_network_transmit_bytes_total", lk)] = n.sent_bytes_total
        out[("wardwatch_network_receive_packets_total", lk)] = n.received_packets_total
        out[("wardwatch_network_transmit_packets_total", lk)] = n.sent_packets_total
        out[("wardwatch_network_receive_errors_total", lk)] = n.receive_errors_total
        out[("wardwatch_network_transmit_errors_total", lk)] = n.transmit_errors_total
        out[("wardwatch_network_receive_drop_total", lk)] = n.receive_drops_total
        out[("wardwatch_network_transmit_drop_total", lk)] = n.transmit_drops_total

    for p in r.processes:
        lk = (("check", p.name),)
        out[("wardwatch_process_count", lk)] = p.count
        out[("wardwatch_process_cpu_ratio", lk)] = p.cpu_ratio
        out[("wardwatch_process_resident_memory_bytes", lk)] = p.rss_bytes

    for pc in r.ports:
        lk = (("check", pc.name), ("target", pc.target))
        out[("wardwatch_port_up", lk)] = 1.0 if pc.up else 0.0
        if pc.connect_seconds is not None:
            out[("wardwatch_port_connect_duration_seconds", lk)] = pc.connect_seconds

    for h in r.http:
        lk = (("check", h.name), ("url", h.url))
        out[("wardwatch_http_up", lk)] = 1.0 if h.up else 0.0
        if h.status_code is not None:
            out[("wardwatch_http_status_code", lk)] = h.status_code
        if h.duration_seconds is not None:
            out[("wardwatch_http_duration_seconds", lk)] = h.duration_seconds
        if h.tls_cert_expiry_seconds is not None:
            out[("wardwatch_http_tls_cert_expiry_timestamp_seconds", lk)] = h.tls_cert_expiry_seconds
        if h.error is not None:
            out[_k("wardwatch_check_error", ("check", h.name), ("type", "http"))] = 1.0

    for f in r.files:
        lk = (("check", f.name),)
        out[("wardwatch_file_check_files", lk)] = f.files
        if f.newest_mtime_seconds is not None:
            out[("wardwatch_file_check_newest_timestamp_seconds", lk)] = f.newest_mtime_seconds
        if f.newest_size_bytes is not None:
            out[("wardwatch_file_check_newest_size_bytes", lk)] = f.newest_size_bytes
        if f.previous_size_bytes is not None:
            out[("wardwatch_file_check_previous_size_bytes", lk)] = f.previous_size_bytes
        if f.error is not None:
            out[_k("wardwatch_check_error", ("check", f.name), ("type", "file"))] = 1.0

    for t in r.temperatures:
        lk = (("label", t.label), ("sensor", t.sensor))
        out[("wardwatch_temperature_celsius", lk)] = t.celsius
        if t.high_celsius is not None:
            out[("wardwatch_temperature_high_celsius", lk)] = t.high_celsius
        if t.critical_celsius is not None:
            out[("wardwatch_temperature_critical_celsius", lk)] = t.critical_celsius
    return out
