from __future__ import annotations

from pathlib import Path

import pytest

from collector.snmp.inventory import InventoryError, load_inventory, parse_inventory

GOOD = {
    "defaults": {"interval_seconds": 30, "profiles": ["system"]},
    "devices": [
        {
            "name": "core-sw-1",
            "address": "10.0.0.1",
            "community": "${CORE_COMMUNITY}",
            "profiles": ["system", "interfaces"],
            "labels": {
                "site": "main",
                "room": "B1",
                "rack": "A03",
                "role": "core-switch",
                "system": "network",
            },
        },
        {
            "name": "his-fw-1",
            "address": "10.0.0.2",
            "version": "3",
            "v3": {
                "user": "wardwatch",
                "security_level": "authPriv",
                "auth_protocol": "SHA-512",
                "auth_password": "${FW_AUTH}",
                "priv_protocol": "AES-256",
                "priv_password": "${FW_PRIV}",
            },
            "parent": "core-sw-1",
        },
    ],
}


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORE_COMMUNITY", "c0re-Community-x")
    monkeypatch.setenv("FW_AUTH", "fw-auth-Secret-1")
    monkeypatch.setenv("FW_PRIV", "fw-priv-Secret-2")


def test_resolves_env_secrets_and_keeps_them_secret(secrets_env: None) -> None:
    inv = parse_inventory(GOOD, "inv.yaml", known_profiles={"system", "interfaces"})
    core, fw = inv.devices
    assert core.community is not None and core.community.get_secret_value() == "c0re-Community-x"
    assert fw.v3 is not None and fw.v3.priv_password is not None
    assert fw.v3.priv_password.get_secret_value() == "fw-priv-Secret-2"
    text = repr(inv) + str(inv) + inv.model_dump_json()
    for secret in ("c0re-Community-x", "fw-auth-Secret-1", "fw-priv-Secret-2"):
        assert secret not in text
    assert inv.profiles_of(fw) == ["system"]
    assert core.labels.as_dict()["rack"] == "A03"


def test_missing_env_var_names_the_field_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORE_COMMUNITY", raising=False)
    monkeypatch.setenv("FW_AUTH", "fw-auth-Secret-1")
    monkeypatch.setenv("FW_PRIV", "fw-priv-Secret-2")
    with pytest.raises(InventoryError) as err:
        parse_inventory(GOOD, "inv.yaml")
    assert "inv.yaml: devices[core-sw-1].community: environment variable CORE_COMMUNITY is not set" in str(
        err.value
    )
    assert "fw-auth-Secret-1" not in str(err.value)


def test_all_problems_are_reported_with_file_and_field(secrets_env: None) -> None:
    raw = {
        "devices": [
            {"name": "a", "address": "10.0.0.1", "community": "x", "profiles": ["nope"], "colour": "red"},
            {"name": "a", "address": "10.0.0.3", "community": "y", "parent": "ghost"},
            {
                "name": "b",
                "address": "10.0.0.4",
                "version": "3",
                "v3": {"user": "u", "auth_password": "short"},
            },
            {
                "name": "c",
                "address": "10.0.0.5",
                "version": "3",
                "v3": {
                    "user": "u",
                    "auth_protocol": "MD5",
                    "auth_password": "long-enough",
                    "priv_password": "long-enough",
                },
            },
        ]
    }
    with pytest.raises(InventoryError) as err:
        parse_inventory(raw, "site.yaml", known_profiles={"system"})
    problems = err.value.problems
    assert any(p.startswith("devices[a].colour:") for p in problems), problems
    assert any(
        p.startswith("devices[b].v3:") and "auth_password must be at least 8" in p for p in problems
    ), problems
    assert any(p.startswith("devices[c].v3.auth_protocol:") for p in problems), problems
    assert str(err.value).count("site.yaml: ") == len(problems)
    # Cross-reference checks run once the models are valid:
    raw["devices"] = raw["devices"][:2]
    del raw["devices"][0]["colour"]
    with pytest.raises(InventoryError) as err:
        parse_inventory(raw, "site.yaml", known_profiles={"system"})
    text = str(err.value)
    assert "site.yaml: devices[a].name: device name used more than once" in text
    assert "devices[a].parent: no device named 'ghost'" in text
    assert "devices[a].profiles: unknown profile 'nope'" in text


def test_version_and_credentials_must_agree() -> None:
    with pytest.raises(InventoryError, match=r"devices\[x\]: community is required for version 2c"):
        parse_inventory({"devices": [{"name": "x", "address": "h"}]}, "f")
    with pytest.raises(InventoryError, match=r"priv_password is required for security_level authPriv"):
        parse_inventory(
            {
                "devices": [
                    {
                        "name": "x",
                        "address": "h",
                        "version": "3",
                        "v3": {"user": "u", "auth_password": "12345678"},
                    }
                ]
            },
            "f",
        )
    inv = parse_inventory(
        {
            "devices": [
                {
                    "name": "x",
                    "address": "h",
                    "version": "3",
                    "v3": {"user": "u", "security_level": "noAuthNoPriv"},
                }
            ]
        },
        "f",
    )
    assert inv.devices[0].v3 is not None


def test_load_reports_yaml_errors_with_line(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("devices:\n  - name: a\n    address: [unclosed\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(bad)
    assert str(bad) in str(err.value) and "line" in str(err.value)


def test_example_inventory_is_valid() -> None:
    from collector.snmp.profiles import load_profiles

    inv = load_inventory(Path("deploy/examples/inventory.yaml"), known_profiles=load_profiles())
    assert {d.name for d in inv.devices} >= {"HOSP-CORE-SW01", "PACS-STOR01", "DC-UPS-01"}


def _chain(*pairs: tuple[str, str | None]) -> dict[str, object]:
    return {
        "devices": [
            {"name": n, "address": f"10.9.0.{i}", "community": "c", **({"parent": p} if p else {})}
            for i, (n, p) in enumerate(pairs, start=1)
        ]
    }


def test_a_parent_cycle_is_rejected_naming_its_devices() -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory(_chain(("sw-a", "sw-b"), ("sw-b", "sw-a")), "site.yaml")
    assert err.value.problems == ["devices[sw-a].parent: parent cycle sw-a → sw-b → sw-a"]
    assert str(err.value) == "site.yaml: devices[sw-a].parent: parent cycle sw-a → sw-b → sw-a"

    # a longer one, entered from a device that is not on it, is reported once
    with pytest.raises(InventoryError) as err:
        parse_inventory(
            _chain(("leaf", "sw-a"), ("sw-a", "sw-b"), ("sw-b", "sw-c"), ("sw-c", "sw-a"), ("root", None)),
            "site.yaml",
        )
    assert err.value.problems == ["devices[sw-a].parent: parent cycle sw-a → sw-b → sw-c → sw-a"]

    # two separate cycles: both named
    with pytest.raises(InventoryError) as err:
        parse_inventory(_chain(("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")), "f")
    assert err.value.problems == [
        "devices[a].parent: parent cycle a → b → a",
        "devices[c].parent: parent cycle c → d → c",
    ]


def test_self_parent_and_unknown_parent_are_still_rejected_and_a_tree_is_accepted() -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory(_chain(("a", "a"), ("b", "ghost")), "f")
    assert err.value.problems == [
        "devices[a].parent: a device cannot be its own parent",
        "devices[b].parent: no device named 'ghost'",
    ]
    inv = parse_inventory(_chain(("core", None), ("dist", "core"), ("acc-1", "dist"), ("acc-2", "dist")), "f")
    assert [d.parent for d in inv.devices] == [None, "core", "dist", "dist"]
