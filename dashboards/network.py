"""Network gear over SNMP: device identity and uptime, interface status, traffic in bits/s from the 64-bit
octet counters, errors and discards, top talkers, device CPU/memory/temperature.

The SNMP identity label is ``device``; the device variable lists what the system profile answered for.
"""

from __future__ import annotations

from grafanalib import core as g

from dashboards import metrics as m
from dashboards.metrics import snmp as s
from dashboards.panels import (
    AMBER,
    GREEN,
    RED,
    SEL_DEVICE,
    UP_DOWN,
    UP_TEXT,
    Layout,
    asset_variables,
    dashboard,
    stat,
    steps,
    table,
    timeseries,
    value_text,
    variable,
)

UID = "wardwatch-network"
RATE = "$__rate_interval"
# Recording rules (deploy/prometheus/rules/wardwatch.yml)
IF_IN_BITS = "wardwatch:snmp_if_in_bits:rate5m"
IF_OUT_BITS = "wardwatch:snmp_if_out_bits:rate5m"
SYSTEM_INFO = s("wardwatch_snmp_system_info")
OPER_TEXT = value_text(
    {
        1: ("up", GREEN),
        2: ("down", RED),
        3: ("testing", AMBER),
        5: ("dormant", AMBER),
        7: ("lowerLayerDown", RED),
    }
)
DEVICE_HIDE = ("Time", "__name__", "job", "instance", "role", "department", "room", "rack", "if_descr")


def _s(metric: str, extra: str = "") -> str:
    return f"{metric}{{{SEL_DEVICE}{', ' + extra if extra else ''}}}"


def build() -> g.Dashboard:
    lay = Layout()
    lay.row("Devices")
    lay.add(
        stat("Devices", [(_s(m.SNMP_UP), "{{device}}")], thresholds=UP_DOWN, mappings=[UP_TEXT]),
        24,
        5,
    )
    lay.add(
        table(
            "Poll errors",
            [(_s(m.SNMP_LAST_ERROR), "")],
            thresholds=steps((None, RED)),
            hide=(*DEVICE_HIDE, "Value"),
            colour="kind",
            rename={"device": "Device", "site": "Site", "system": "System", "kind": "Last error"},
            description=(
                "Why the device's last poll failed (the row goes once a poll succeeds). "
                "timeout: no answer (device down, or for v2c a wrong community: the agent drops it silently); "
                "bad_community: v2c, no answer while the device sends authenticationFailure traps, so a wrong "
                "community (or an agent that refuses this collector's address); "
                "unreachable: ICMP unreachable, nothing listens there; "
                "auth_failure: v3, wrong authentication password; "
                "unknown_user: v3, the device does not know the user; "
                "no_such_name: nothing the profile asks for exists on the device; "
                "error_status: the agent answered with an error (genErr, tooBig...); "
                "protocol_error: other SNMP engine failures (decryption, time window...); "
                "internal: the poller itself failed (see the collector log)."
            ),
        ),
        12,
        6,
    )
    lay.add(
        timeseries(
            "Poll duration",
            [(_s(m.SNMP_POLL_DURATION), "{{device}}")],
            unit="s",
            thresholds=steps((None, GREEN), (5, AMBER), (20, RED)),
        ),
        12,
        6,
    )
    lay.add(
        stat(
            "Interfaces down (admin up)",
            [
                (
                    f"count by (device) ({_s(s('wardwatch_snmp_if_oper_status'))} != 1"
                    f" and on (device, if_index) {_s(s('wardwatch_snmp_if_admin_status'))} == 1)"
                    f" or count by (device) ({_s(s('wardwatch_snmp_if_oper_status'))}) * 0",
                    "{{device}}",
                )
            ],
            thresholds=steps((None, GREEN), (1, RED)),
            description="Ports an administrator enabled that have no link. 0 = every enabled port is up.",
        ),
        12,
        5,
    )
    lay.add(
        table(
            "Device uptime",
            [(_s(s("wardwatch_snmp_sys_uptime_seconds")), "")],
            unit="s",
            thresholds=steps((None, AMBER), (3600, GREEN)),
            hide=DEVICE_HIDE,
            rename={"device": "Device", "site": "Site", "system": "System", "Value": "Uptime"},
            sort_by="Uptime",
            descending=False,
            description="sysUpTime: amber within an hour of a restart.",
        ),
        12,
        5,
    )
    lay.add(
        table(
            "Device identity",
            [(_s(SYSTEM_INFO), "")],
            hide=(*DEVICE_HIDE, "Value", "sys_object_id", "sys_contact"),
            colour=None,
            rename={
                "device": "Device",
                "sys_name": "Name",
                "sys_descr": "Description",
                "sys_location": "Location",
            },
        ),
        24,
        6,
    )

    lay.row("Interfaces")
    lay.add(
        table(
            "Interface status",
            [(_s(s("wardwatch_snmp_if_oper_status")), "")],
            thresholds=UP_DOWN,
            mappings=[OPER_TEXT],
            hide=(*DEVICE_HIDE, "site", "system"),
            rename={"device": "Device", "if_name": "Port", "if_alias": "Description", "Value": "Status"},
            sort_by="Status",
        ),
        10,
        10,
    )
    lay.add(
        timeseries(
            "Traffic",
            [
                (f"{IF_IN_BITS}{{{SEL_DEVICE}}}", "{{device}} {{if_name}} in"),
                (f"-{IF_OUT_BITS}{{{SEL_DEVICE}}}", "{{device}} {{if_name}} out"),
            ],
            unit="bps",
            description="ifHCInOctets/ifHCOutOctets × 8 per second (5-minute rate); out drawn below zero.",
        ),
        14,
        10,
    )
    lay.add(
        table(
            "Top talkers",
            [(f"topk(10, {IF_IN_BITS}{{{SEL_DEVICE}}} + {IF_OUT_BITS}{{{SEL_DEVICE}}})", "")],
            unit="bps",
            hide=(*DEVICE_HIDE, "site", "system"),
            rename={"device": "Device", "if_name": "Port", "if_alias": "Description", "Value": "In + out"},
            sort_by="In + out",
        ),
        10,
        9,
    )
    lay.add(
        timeseries(
            "Errors and discards",
            [
                (
                    f"rate({_s(s('wardwatch_snmp_if_in_errors_total'))}[{RATE}])"
                    f" + rate({_s(s('wardwatch_snmp_if_out_errors_total'))}[{RATE}])",
                    "{{device}} {{if_name}} errors",
                ),
                (
                    f"rate({_s(s('wardwatch_snmp_if_in_discards_total'))}[{RATE}])"
                    f" + rate({_s(s('wardwatch_snmp_if_out_discards_total'))}[{RATE}])",
                    "{{device}} {{if_name}} discards",
                ),
            ],
            unit="pps",
        ),
        14,
        9,
    )
    lay.add(
        timeseries(
            "Link utilisation",
            [
                (
                    f"max by (device, if_name) (({IF_IN_BITS}{{{SEL_DEVICE}}} >= {IF_OUT_BITS}{{{SEL_DEVICE}}}"
                    f" or {IF_OUT_BITS}{{{SEL_DEVICE}}})"
                    f" / on (device, if_index) group_left() ({_s(s('wardwatch_snmp_if_speed_bytes_per_second'))} * 8 > 0))",
                    "{{device}} {{if_name}}",
                )
            ],
            description="The busier direction of each port (bits/s) against its speed (ifHighSpeed, bytes/s × 8).",
            unit="percentunit",
            thresholds=steps((None, GREEN), (0.7, AMBER), (0.9, RED)),
            lo=0,
        ),
        24,
        8,
    )

    lay.row("Device health")
    lay.add(
        timeseries(
            "CPU",
            [
                (_s(s("wardwatch_snmp_hr_processor_load_percent")), "{{device}} cpu {{hr_device_index}}"),
                (_s(s("wardwatch_snmp_cisco_cpu_5min_percent")), "{{device}} cpu {{cpu}}"),
                (_s(s("wardwatch_snmp_huawei_entity_cpu_usage_percent")), "{{device}} {{ent_physical_name}}"),
                (_s(s("wardwatch_snmp_h3c_entity_cpu_usage_percent")), "{{device}} {{ent_physical_name}}"),
            ],
            unit="percent",
            thresholds=steps((None, GREEN), (80, AMBER), (95, RED)),
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Temperatures",
            [
                (
                    f"{_s(s('wardwatch_snmp_entity_sensor_value'))}"
                    f" and on (device, ent_physical_index) {_s(s('wardwatch_snmp_entity_sensor_type'))} == 8",
                    "{{device}} {{ent_physical_name}}",
                ),
                (_s(s("wardwatch_snmp_cisco_temperature_celsius")), "{{device}} {{descr}}"),
                (
                    _s(s("wardwatch_snmp_huawei_entity_temperature_celsius")),
                    "{{device}} {{ent_physical_name}}",
                ),
                (_s(s("wardwatch_snmp_h3c_entity_temperature_celsius")), "{{device}} {{ent_physical_name}}"),
            ],
            unit="celsius",
            thresholds=steps((None, GREEN), (60, AMBER), (75, RED)),
        ),
        12,
        8,
    )
    return dashboard(
        uid=UID,
        title="wardwatch — Network",
        description="Switches, routers and firewalls polled over SNMP.",
        layout=lay,
        templates=[
            *asset_variables(m.SNMP_UP),
            variable("device", m.SNMP_UP, depends='site=~"$site", system=~"$system"'),
        ],
        tags=["network", "snmp"],
    )
