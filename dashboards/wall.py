"""The NOC wall: one dark, kiosk-friendly screen readable from across the machine room.

No scrolling (everything fits 24 × 27 grid units, a 1080p screen in kiosk mode), big tiles coloured by
thresholds: assets down per system and per site, open incidents by severity and by category, who is on duty
now per team, hosts and devices in trouble and why, the newest open incidents. Asset queries go through the
recording rules in deploy/prometheus/rules/.

The ``site`` and ``system`` variables (``&var-site=main-campus``) filter the asset tiles and the incident tiles
and table alike (incidents carry their asset's site and system; one without them is shown under "All" only);
"On duty now" is hospital-wide (the roster has no site).
"""

from __future__ import annotations

from grafanalib import core as g

from dashboards import metrics as m
from dashboards.incidents import SEL_INCIDENT, SEVERITIES, one_collector, open_by, open_with
from dashboards.panels import (
    AMBER,
    BLUE,
    GREEN,
    RED,
    SEL_ASSET,
    Layout,
    dashboard,
    stat,
    steps,
    table,
    value_text,
    variable,
)

UID = "wardwatch-wall"
SEVERITY_COLOURS = steps((None, GREEN), (1, RED))
# Recording rules (deploy/prometheus/rules/wardwatch.yml): the test checks they exist there.
ASSETS = "wardwatch:assets:by_site_system"
ASSETS_DOWN = "wardwatch:assets_down:by_site_system"
ASSET_TROUBLE = "wardwatch:asset_trouble"
NEWEST_ROWS = 12  # what the table shows without scrolling (the collector exposes the newest 50)
SEVERITY_TEXT = value_text(
    {
        "critical": ("critical", RED),
        "major": ("major", "orange"),
        "minor": ("minor", AMBER),
        "warning": ("warning", BLUE),
    }
)


def build() -> g.Dashboard:
    sel = f"{{{SEL_ASSET}}}"
    lay = Layout()
    lay.add(
        stat(
            "Systems: assets down",
            [(f"sum by (system) ({ASSETS_DOWN}{sel})", "{{system}}")],
            thresholds=steps((None, GREEN), (1, RED)),
            description="Per system (HIS, EMR, PACS, LIS...): agents not reporting and devices not answering SNMP. "
            "Green 0 = all up.",
        ),
        16,
        7,
    )
    lay.add(
        stat(
            "Assets up",
            [(f"sum({ASSETS}{sel}) - sum({ASSETS_DOWN}{sel})", "up"), (f"sum({ASSETS_DOWN}{sel})", "down")],
            thresholds=steps((None, GREEN)),
            color_mode="value",
        ),
        8,
        7,
    )
    lay.add(
        stat(
            "Sites: assets down",
            [(f"sum by (site) ({ASSETS_DOWN}{sel})", "{{site}}")],
            thresholds=steps((None, GREEN), (1, RED)),
        ),
        8,
        5,
    )
    lay.add(
        stat(
            "Open incidents",
            [(open_with(s), s) for s in SEVERITIES],
            thresholds=SEVERITY_COLOURS,
            description="Unresolved incidents of the selected sites and systems by severity (critical = P1 ... "
            "warning = P4).",
        ),
        8,
        5,
    )
    lay.add(
        stat(
            "Open incidents by category",
            [(open_by("category"), "{{category}}")],
            thresholds=SEVERITY_COLOURS,
            description="Unresolved incidents of the selected sites and systems by the kind of emergency plan "
            "they fall under.",
        ),
        8,
        5,
    )
    lay.add(
        table(
            "On duty now",
            [(f"max by (team, layer, person) ({m.ONCALL_INFO})", "")],
            hide=("Time", "Value"),
            rename={"team": "Team", "layer": "Layer", "person": "Person"},
            colour=None,
            sort_by="Team",
            descending=False,
            description="Who is on duty now, per team and escalation layer (from the roster; all sites).",
        ),
        6,
        15,
    )
    lay.add(
        table(
            "Hosts and devices in trouble",
            [(f"{ASSET_TROUBLE}{sel}", "")],
            hide=("Time", "Value", "__name__", "host", "device"),
            rename={"asset": "Asset", "site": "Site", "system": "System", "problem": "Problem"},
            thresholds=steps((None, RED)),  # every row is a problem
            colour="problem",
            sort_by="System",
            descending=False,
            description="Agents not reporting, devices not answering SNMP, failed checks, full filesystems, "
            "enabled ports down, UPS on battery, storage not healthy.",
        ),
        8,
        15,
    )
    lay.add(
        table(
            "Newest incidents",
            # one collector's series (several may share a store), newest first; the value is the opened
            # time in seconds, Grafana wants milliseconds to show "12 minutes ago"
            [(f"topk({NEWEST_ROWS}, {one_collector(m.INCIDENT_OPEN_INFO, SEL_INCIDENT)}) * 1000", "")],
            hide=("Time", "category", "site", "system"),  # the asset says where; the width is for the title
            rename={
                "number": "Incident",
                "severity": "Severity",
                "status": "Status",
                "title": "Title",
                "asset": "Asset",
                "Value": "Opened",
            },
            order=("number", "severity", "title", "asset", "status", "Value"),
            unit="dateTimeFromNow",
            mappings=[SEVERITY_TEXT],
            colour="severity",
            sort_by="Opened",
            description=f"The {NEWEST_ROWS} most recently opened unresolved incidents (open or acknowledged) of "
            "the selected sites and systems.",
        ),
        10,
        15,
    )
    return dashboard(
        uid=UID,
        title="wardwatch — NOC wall",
        description="Machine-room wall display: open in kiosk mode (?kiosk) on a 1080p or 4K screen.",
        layout=lay,
        templates=[variable("site", ASSETS), variable("system", ASSETS, depends='site=~"$site"')],
        tags=["wall"],
        refresh="15s",
        time_from="now-1h",
    )
