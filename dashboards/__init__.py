"""Grafana dashboards as code (grafanalib); ``wardwatch dashboards build --out DIR`` writes their JSON."""
