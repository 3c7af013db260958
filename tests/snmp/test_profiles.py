from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector.catalog import MetricCatalog, MetricType
from collector.snmp.profiles import ProfileError, load_profile, load_profiles, parse_profile, translate
from collector.state import series_key

SHIPPED = {
    "system",
    "interfaces",
    "host-resources",
    "ups",
    "entity-sensors",
    "huawei",
    "h3c",
    "cisco",
    "huawei-oceanstor",
}


def test_all_shipped_profiles_load_and_declare_their_metrics() -> None:
    profiles = load_profiles()
    assert set(profiles) >= SHIPPED
    catalog = MetricCatalog()
    for p in profiles.values():
        p.declare(catalog)
    assert catalog.get("wardwatch_snmp_if_in_octets_total").type is MetricType.COUNTER  # type: ignore[union-attr]
    assert catalog.get("wardwatch_snmp_system_info").type is MetricType.GAUGE  # type: ignore[union-attr]
    assert "1 up" in catalog.get("wardwatch_snmp_if_oper_status").help  # type: ignore[union-attr]


def test_translate_scales_multiplies_and_labels_rows() -> None:
    p = parse_profile(
        {
            "name": "t",
            "scalars": [
                {
                    "oid": "1.3.6.1.2.1.1.5.0",
                    "metric": "wardwatch_t_system_info",
                    "type": "info",
                    "label": "sys_name",
                },
                {
                    "oid": "1.3.6.1.2.1.1.6.0",
                    "metric": "wardwatch_t_system_info",
                    "type": "info",
                    "label": "sys_location",
                },
                {
                    "oid": "1.3.6.1.2.1.33.1.2.5.0",
                    "metric": "wardwatch_t_volts",
                    "type": "gauge",
                    "scale": 0.1,
                },
            ],
            "tables": [
                {
                    "name": "hr",
                    "index": ["hr_storage_index"],
                    "lookups": {"hr_storage_descr": "1.3.6.1.2.1.25.2.3.1.3"},
                    "columns": [
                        {
                            "oid": "1.3.6.1.2.1.25.2.3.1.5",
                            "metric": "wardwatch_t_size_bytes",
                            "type": "gauge",
                            "multiply_by": "1.3.6.1.2.1.25.2.3.1.4",
                        },
                        {
                            "oid": "1.3.6.1.4.1.2011.5.25.31.1.1.1.1.11",
                            "metric": "wardwatch_t_celsius",
                            "type": "gauge",
                            "skip_values": [0],
                            "valid_max": 2147483645,
                        },
                    ],
                },
                {
                    "name": "fans",
                    "index": ["slot", "fan"],
                    "columns": [
                        {
                            "oid": "1.3.6.1.4.1.2011.5.25.31.1.1.10.1.7",
                            "metric": "wardwatch_t_fan",
                            "type": "enum",
                            "enum": {1: "normal", 2: "abnormal"},
                        }
                    ],
                },
            ],
        },
        "t.yaml",
    )
    out = translate(
        p,
        {"1.3.6.1.2.1.1.5.0": "sw1", "1.3.6.1.2.1.1.6.0": "B1", "1.3.6.1.2.1.33.1.2.5.0": 4096},
        {
            "1.3.6.1.2.1.25.2.3.1.3": {"1": "/", "2": "swap"},
            "1.3.6.1.2.1.25.2.3.1.4": {"1": 4096, "2": 1024},
            "1.3.6.1.2.1.25.2.3.1.5": {"1": 100, "2": 7},
            "1.3.6.1.4.1.2011.5.25.31.1.1.1.1.11": {"1": 0, "2": 2147483647},
            "1.3.6.1.4.1.2011.5.25.31.1.1.10.1.7": {"1.2": 2},
        },
    )
    assert out.samples[series_key("wardwatch_t_system_info", sys_name="sw1", sys_location="B1")] == 1.0
    assert out.samples[series_key("wardwatch_t_volts")] == pytest.approx(409.6)
    assert (
        out.samples[series_key("wardwatch_t_size_bytes", hr_storage_index="1", hr_storage_descr="/")]
        == 409600
    )
    assert (
        out.samples[series_key("wardwatch_t_size_bytes", hr_storage_index="2", hr_storage_descr="swap")]
        == 7168
    )
    assert out.samples[series_key("wardwatch_t_fan", slot="1", fan="2")] == 2
    assert not any(k[0] == "wardwatch_t_celsius" for k in out.samples), "sentinels must not become readings"
    assert out.info == {"sys_name": "sw1", "sys_location": "B1"}


def test_entity_sensor_scale_and_precision() -> None:
    p = load_profiles()["entity-sensors"]
    base = "1.3.6.1.2.1.99.1.1.1"
    out = translate(
        p,
        {},
        {
            f"{base}.4": {"1": 1205, "2": 12050, "3": 41},
            f"{base}.2": {"1": 9, "2": 8, "3": 9},  # units, milli, units
            f"{base}.3": {"1": 2, "2": 0, "3": 0},
            "1.3.6.1.2.1.47.1.1.1.1.7": {"1": "PSU 1", "2": "PSU 2", "3": "MPU"},
        },
    )
    value = {
        dict(k[1])["ent_physical_name"]: v
        for k, v in out.samples.items()
        if k[0] == "wardwatch_snmp_entity_sensor_value"
    }
    assert value == pytest.approx({"PSU 1": 12.05, "PSU 2": 12.05, "MPU": 41.0})


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            {"oid": "1.3.6.1.2.1.2.2.1.14", "metric": "wardwatch_x_errors", "type": "counter"},
            "must end with _total",
        ),
        ({"oid": "1.3.6.x.1", "metric": "wardwatch_x", "type": "gauge"}, "tables.0.columns.0.oid"),
        ({"oid": "1.3.6.1.2", "metric": "wardwatch_x", "type": "enum"}, "needs enum"),
        ({"oid": "1.3.6.1.2", "metric": "x_no_prefix", "type": "gauge"}, "tables.0.columns.0.metric"),
    ],
)
def test_profile_errors_name_the_field(tmp_path: Path, column: dict, message: str) -> None:
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"name": "bad", "tables": [{"name": "t", "index": ["i"], "columns": [column]}]})
    )
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ({"index": ["ifIndex"]}, "tables.0.index.0"),
        ({"index": ["if_index"], "lookups": {"ifName": "1.3.6.1.2.1.31.1.1.1.1"}}, "tables.0.lookups.ifName"),
        (
            {"index": ["i"], "columns": [{"oid": "1.3.6.1.2", "metric": "wardwatch_x", "type": "gauge", "labels": {"castType": "u"}}]},
            "tables.0.columns.0.labels.castType",
        ),
        (
            {"index": ["i"], "columns": [{"oid": "1.3.6.1.2", "metric": "wardwatch_x_info", "type": "info", "label": "sysName"}]},
            "tables.0.columns.0.label",
        ),
    ],
)  # fmt: skip
def test_label_names_must_be_snake_case(table: dict, where: str) -> None:
    """Prometheus label names are snake_case (promtool check metrics flags camelCase): a MIB name is not one."""
    raw = {
        "name": "t",
        "index": ["i"],
        "columns": [{"oid": "1.3.6.1.2", "metric": "wardwatch_x", "type": "gauge"}],
    }
    with pytest.raises(ProfileError) as err:
        parse_profile({"name": "bad", "tables": [raw | table]}, "bad.yaml")
    assert where in str(err.value) and "must be snake_case" in str(err.value)


def test_docs_list_every_shipped_profiles_row_labels() -> None:
    """docs/snmp.md's table of row labels is what the profiles produce (rules and dashboards are written from it)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "snmp.md").read_text(encoding="utf-8")
    section = doc.split("The shipped profiles' row labels:", 1)[1].split("\n\n", 2)[1]
    documented = {}
    for line in section.splitlines()[2:]:
        name, labels = line.strip("|").split("|")
        documented[name.strip(" `")] = set(re.findall(r"`([a-z_]+)`", labels))
    produced = {
        p.name: {n for t in p.tables for n in (*t.index, *t.lookups)}
        for p in load_profiles().values()
        if p.tables
    }
    assert documented == produced


def test_user_profiles_override_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "ups.yaml").write_text(
        "name: ups\nscalars:\n  - {oid: 1.3.6.1.2.1.33.1.2.4.0, metric: wardwatch_snmp_ups_battery_charge_percent, type: gauge}\n"
    )
    assert len(load_profiles([tmp_path])["ups"].scalars) == 1
    assert len(load_profiles()["ups"].scalars) > 1


def test_info_columns_and_only_they_end_with_info() -> None:
    with pytest.raises(ProfileError, match="end with _info"):
        parse_profile(
            {
                "name": "x",
                "scalars": [
                    {"oid": "1.3.6.1.2.1.1.5.0", "metric": "wardwatch_x_name", "type": "info", "label": "n"}
                ],
            },
            "x",
        )
    with pytest.raises(ProfileError, match="end with _info"):
        parse_profile(
            {
                "name": "x",
                "scalars": [{"oid": "1.3.6.1.2.1.1.3.0", "metric": "wardwatch_x_info", "type": "gauge"}],
            },
            "x",
        )
