"""Storage and UPS: capacity and growth (HOST-RESOURCES storage, OceanStor pools), array component health,
UPS battery, charge, runtime, load and on-battery events (UPS-MIB)."""

from __future__ import annotations

from grafanalib import core as g

from dashboards import metrics as m
from dashboards.metrics import snmp as s
from dashboards.panels import (
    AMBER,
    GREEN,
    RATIO_USAGE,
    RED,
    SEL_DEVICE,
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

UID = "wardwatch-storage-ups"
HEALTH_TEXT = value_text(
    {
        1: ("normal", GREEN),
        2: ("fault", RED),
        3: ("pre-fail", AMBER),
        4: ("partially broken", RED),
        5: ("degraded", AMBER),
    }
)
SOURCE_TEXT = value_text({2: ("none", RED), 3: ("mains", GREEN), 4: ("bypass", AMBER), 5: ("BATTERY", RED)})
HIDE = ("Time", "__name__", "job", "instance", "role", "department", "room", "rack", "site", "system")


def _s(metric: str, extra: str = "") -> str:
    return f"{metric}{{{SEL_DEVICE}{', ' + extra if extra else ''}}}"


def build() -> g.Dashboard:
    lay = Layout()
    lay.row("Storage capacity")
    pool_used, pool_total = (
        s("wardwatch_snmp_oceanstor_pool_used_bytes"),
        s("wardwatch_snmp_oceanstor_pool_total_bytes"),
    )
    lay.add(
        table(
            "Storage pools used",
            [(f"{_s(pool_used)} / on (device, pool) group_left() ({_s(pool_total)} > 0)", "")],
            unit="percentunit",
            thresholds=RATIO_USAGE,
            hide=(*HIDE, "pool"),
            rename={"device": "Array", "pool_name": "Pool", "Value": "Used"},
            sort_by="Used",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Pool growth per day",
            [(f"deriv({_s(pool_used)}[1d]) * 86400", "{{device}} {{pool_name}}")],
            unit="bytes",
            description="How fast each pool fills (linear fit over the last day).",
        ),
        8,
        8,
    )
    hr_used, hr_size = s("wardwatch_snmp_hr_storage_used_bytes"), s("wardwatch_snmp_hr_storage_size_bytes")
    lay.add(
        table(
            "Host storage used (HOST-RESOURCES-MIB)",
            [(f"{_s(hr_used)} / on (device, hr_storage_index) group_left() ({_s(hr_size)} > 0)", "")],
            unit="percentunit",
            thresholds=RATIO_USAGE,
            hide=(*HIDE, "hr_storage_index"),
            rename={"device": "Device", "hr_storage_descr": "Storage", "Value": "Used"},
            sort_by="Used",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Array capacity",
            [
                (_s(s("wardwatch_snmp_oceanstor_used_capacity_bytes")), "{{device}} used"),
                (_s(s("wardwatch_snmp_oceanstor_total_capacity_bytes")), "{{device}} total"),
            ],
            unit="bytes",
        ),
        12,
        8,
    )
    lay.add(
        stat(
            "Array components not normal",
            [
                (
                    f"count by (device) ({_s(s('wardwatch_snmp_oceanstor_' + part + '_health'))} != 1)"
                    f" or count by (device) ({_s(s('wardwatch_snmp_oceanstor_' + part + '_health'))}) * 0",
                    f"{{{{device}}}} {part}s",
                )
                for part in ("disk", "controller", "fan", "bbu", "enclosure")
            ],
            thresholds=steps((None, GREEN), (1, RED)),
        ),
        12,
        8,
    )

    lay.row("UPS")
    lay.add(
        stat(
            "Power source",
            [(_s(s("wardwatch_snmp_ups_output_source")), "{{device}}")],
            mappings=[SOURCE_TEXT],
            thresholds=steps((None, GREEN), (4, AMBER), (5, RED), (6, AMBER)),
            description="upsOutputSource: BATTERY means mains power is lost.",
        ),
        6,
        5,
    )
    lay.add(
        stat(
            "Battery charge",
            [(_s(s("wardwatch_snmp_ups_battery_charge_percent")), "{{device}}")],
            unit="percent",
            thresholds=steps((None, RED), (50, AMBER), (90, GREEN)),
        ),
        6,
        5,
    )
    lay.add(
        stat(
            "Runtime left",
            [(_s(s("wardwatch_snmp_ups_battery_runtime_seconds")), "{{device}}")],
            unit="s",
            thresholds=steps((None, RED), (600, AMBER), (1800, GREEN)),
        ),
        6,
        5,
    )
    lay.add(
        stat(
            "Load",
            [(f"max by (device) ({_s(s('wardwatch_snmp_ups_output_load_percent'))})", "{{device}}")],
            unit="percent",
            thresholds=steps((None, GREEN), (70, AMBER), (90, RED)),
        ),
        6,
        5,
    )
    lay.add(
        timeseries(
            "On battery",
            [
                (_s(s("wardwatch_snmp_ups_seconds_on_battery")), "{{device}} seconds on battery"),
                (
                    f"increase({_s(s('wardwatch_snmp_ups_input_line_bads_total'))}[$__rate_interval])",
                    "{{device}} input line bad",
                ),
            ],
            bars=True,
            description="On-battery events: seconds on battery while mains is out, and input-out-of-tolerance counts.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Input and output voltage",
            [
                (_s(s("wardwatch_snmp_ups_input_volts")), "{{device}} in {{line}}"),
                (_s(s("wardwatch_snmp_ups_output_volts")), "{{device}} out {{line}}"),
            ],
            unit="volt",
        ),
        12,
        8,
    )
    lay.add(
        table(
            "Batteries",
            [(_s(s("wardwatch_snmp_ups_battery_status")), "")],
            mappings=[
                value_text(
                    {1: ("unknown", AMBER), 2: ("normal", GREEN), 3: ("LOW", RED), 4: ("DEPLETED", RED)}
                )
            ],
            thresholds=steps((None, AMBER), (2, GREEN), (3, RED)),
            hide=HIDE,
            rename={"device": "UPS", "Value": "Battery"},
        ),
        12,
        6,
    )
    lay.add(
        timeseries(
            "Battery temperature",
            [(_s(s("wardwatch_snmp_ups_battery_temperature_celsius")), "{{device}}")],
            unit="celsius",
            thresholds=steps((None, GREEN), (35, AMBER), (40, RED)),
        ),
        12,
        6,
    )
    return dashboard(
        uid=UID,
        title="wardwatch — Storage and UPS",
        description="Storage arrays and UPSes polled over SNMP.",
        layout=lay,
        templates=[
            *asset_variables(m.SNMP_UP),
            variable("device", m.SNMP_UP, depends='site=~"$site", system=~"$system"'),
        ],
        tags=["storage", "ups", "snmp"],
    )
