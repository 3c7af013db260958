"""Write every dashboard's JSON: ``wardwatch dashboards build --out DIR`` (one file per dashboard, uid.json).

The output is deterministic (sorted keys, fixed indentation) so the committed copy under
deploy/grafana/dashboards/ can be compared byte for byte with a fresh build.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from dashboards import COMMITTED_DIR, hosts, incidents, network, storage_ups, wall

BUILDERS: tuple[Callable[[], g.Dashboard], ...] = (
    wall.build,
    hosts.build,
    network.build,
    storage_ups.build,
    incidents.build,
)
__all__ = ["BUILDERS", "COMMITTED_DIR", "build_all", "render", "write"]


def render(dashboard: g.Dashboard) -> str:
    data = dashboard.to_json_data()
    return json.dumps(data, cls=DashboardEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """``{file name: JSON text}`` for every dashboard."""
    out: dict[str, str] = {}
    for builder in BUILDERS:
        dashboard = builder()
        name = f"{dashboard.uid}.json"
        if name in out:
            raise ValueError(f"two dashboards share the uid {dashboard.uid}")
        out[name] = render(dashboard)
    return out


def write(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in build_all().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
