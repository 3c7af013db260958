"""Grafana dashboards as code (grafanalib); ``wardwatch dashboards build --out DIR`` writes their JSON."""

from pathlib import Path

# Where the generated JSON is committed and Grafana's provisioning reads it from (deploy/grafana/).
COMMITTED_DIR = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards"
