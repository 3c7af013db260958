"""deploy/compose.yaml: ``docker compose config`` where the compose plugin exists (it parses offline, no
engine needed); everywhere, a structural check that every mount, path and name lines up with the configs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards.panels import DATASOURCE_UID

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
# Bind mounts of things an admin creates on the server and never commits.
SECRET_SOURCES = {"./secrets"}


def _compose_works() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    result = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=20, check=False
    )
    return result.returncode == 0


COMPOSE_WORKS = _compose_works()


def _config() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _mounts(service: dict) -> dict[str, str]:
    """target → source of every volume of a service."""
    out = {}
    for v in service.get("volumes", []):
        source, target, *_ = v.split(":")
        out[target] = source
    return out


@pytest.mark.skipif(not COMPOSE_WORKS, reason="the docker compose plugin is not installed here")
def test_docker_compose_config_accepts_the_file():
    env = {**os.environ, "GRAFANA_ADMIN_PASSWORD": "not-a-real-password"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not COMPOSE_WORKS, reason="the docker compose plugin is not installed here")
def test_docker_compose_config_requires_the_grafana_password():
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode != 0


def test_services_and_images():
    services = _config()["services"]
    assert sorted(services) == ["alertmanager", "collector", "grafana", "prometheus"]
    assert services["alertmanager"]["profiles"] == ["alertmanager"]  # optional
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[a-z0-9./_-]+:[0-9A-Za-z.+_-]+", image), f"{name}: pin the image tag ({image})"
        assert not image.endswith(":latest"), name
        assert service["restart"] == "unless-stopped", name
        assert "no-new-privileges:true" in service["security_opt"], name
    assert "dockerfile_inline" in services["collector"]["build"]


def test_every_bind_mount_source_exists_or_is_a_documented_secret():
    for name, service in _config()["services"].items():
        for target, source in _mounts(service).items():
            if not source.startswith("."):
                continue
            if source in SECRET_SOURCES:
                continue
            assert (DEPLOY / source).exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_named_volumes_are_declared():
    config = _config()
    for name, service in config["services"].items():
        for source in _mounts(service).values():
            if not source.startswith(("/", ".")):
                assert source in config["volumes"], f"{name}: volume {source} is not declared"


def test_prometheus_reads_the_mounted_config_and_rules():
    prom = _config()["services"]["prometheus"]
    mounts = _mounts(prom)
    config_flag = next(a for a in prom["command"] if a.startswith("--config.file="))
    assert mounts[config_flag.split("=", 1)[1]] == "./prometheus/prometheus.yml"
    rule_glob = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["rule_files"][0]
    assert mounts[str(Path(rule_glob).parent)] == "./prometheus/rules"
    assert "--web.listen-address=127.0.0.1:9090" in prom["command"]  # only Grafana on this box queries it


def test_grafana_gets_the_provisioning_and_the_dashboards_where_the_provider_looks():
    grafana = _config()["services"]["grafana"]
    mounts = _mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/wardwatch.yaml").read_text())
    (dashboards,) = provider["providers"]
    assert mounts[dashboards["options"]["path"]] == "./grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).parent == Path(dashboards["options"]["path"])
    assert (DEPLOY / "grafana" / "dashboards" / Path(home).name).is_file()  # the wall is the home screen
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/wardwatch.yaml").read_text())
    (ds,) = datasources["datasources"]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "prometheus"
    variable = re.fullmatch(r"\$\{(\w+)\}", ds["url"])
    assert variable and grafana["environment"][variable[1]] == "http://127.0.0.1:9090"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_collector_gets_its_settings_and_every_file_they_name():
    collector = _config()["services"]["collector"]
    mounts = _mounts(collector)
    settings = yaml.safe_load((DEPLOY / "examples" / "collector.yaml").read_text())
    assert mounts["/etc/wardwatch/collector.yaml"] == "./examples/collector.yaml"
    assert "/etc/wardwatch/collector.yaml" in collector["command"]
    assert settings["snmp"]["inventory_file"] in mounts
    assert settings["alerting"]["rules_dir"] in mounts
    assert settings["rosters"]["path"] in mounts
    assert (DEPLOY / mounts[settings["rosters"]["path"]] / "escalation.yaml").is_file()
    assert mounts[collector["environment"]["WARDWATCH_DATA_DIR"]] == "collector-data"
    assert collector["cap_drop"] == ["ALL"] and "cap_add" not in collector  # a non-root user gets none anyway
    trap_port = int(collector["environment"]["WARDWATCH_SNMP__TRAP_PORT"])
    assert trap_port >= 1024  # so the user wardwatch can bind it (the example config's 162 is for systemd)
