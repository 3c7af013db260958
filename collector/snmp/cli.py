"""``wardwatch snmp probe HOST:PORT ...`` and ``wardwatch snmp check-inventory FILE``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from collector.snmp.client import SnmpClient, SnmpError
from collector.snmp.inventory import Device, InventoryError, load_inventory, parse_inventory
from collector.snmp.poller import make_target, poll_once
from collector.snmp.profiles import Profile, ProfileError, load_profiles
from collector.snmp.settings import SnmpSettings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    snmp = sub.add_parser("snmp", help="SNMP devices: probe one, check an inventory")
    snmp_sub = snmp.add_subparsers(dest="snmp_command", metavar="SUBCOMMAND")

    probe = snmp_sub.add_parser("probe", help="poll a device once with some profiles and print what it found")
    probe.add_argument("target", help="HOST:PORT (port defaults to 161)")
    probe.add_argument(
        "--profile", action="append", default=[], help="profile name (repeatable; default system)"
    )
    probe.add_argument("--profile-dir", action="append", type=Path, default=[], help="extra profile folder")
    probe.add_argument(
        "--community", help="v2c community, or ${ENV_VAR} (prefer the env form: argv is visible)"
    )
    probe.add_argument("--v3-user", help="SNMPv3 user (selects version 3)")
    probe.add_argument(
        "--security-level", default="authPriv", choices=["noAuthNoPriv", "authNoPriv", "authPriv"]
    )
    probe.add_argument(
        "--auth-protocol", default="SHA-256", choices=["SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
    )
    probe.add_argument("--auth-password", help="v3 auth password, or ${ENV_VAR}")
    probe.add_argument("--priv-protocol", default="AES-128", choices=["AES-128", "AES-192", "AES-256"])
    probe.add_argument("--priv-password", help="v3 privacy password, or ${ENV_VAR}")
    probe.add_argument("--timeout", type=float, default=2.0, help="seconds per try")
    probe.add_argument("--retries", type=int, default=1)
    probe.add_argument("--no-bulk", action="store_true", help="walk with GETNEXT instead of GETBULK")
    probe.set_defaults(handler=cmd_probe)

    check = snmp_sub.add_parser("check-inventory", help="validate an inventory file and exit")
    check.add_argument("file", type=Path)
    check.add_argument("--profile-dir", action="append", type=Path, default=[], help="extra profile folder")
    check.set_defaults(handler=cmd_check_inventory)


def _device_from_args(args: argparse.Namespace) -> Device:
    host, _, port = args.target.rpartition(":") if ":" in args.target else (args.target, "", "161")
    raw: dict[str, object] = {
        "name": "probe",
        "address": host,
        "port": int(port) if port.isdigit() else port,
        "timeout_seconds": args.timeout,
        "retries": args.retries,
        "use_getbulk": not args.no_bulk,
        "profiles": args.profile or ["system"],
    }
    if args.v3_user:
        raw["version"] = "3"
        v3: dict[str, object] = {
            "user": args.v3_user,
            "security_level": args.security_level,
            "auth_protocol": args.auth_protocol,
            "priv_protocol": args.priv_protocol,
        }
        if args.auth_password:
            v3["auth_password"] = args.auth_password
        if args.priv_password:
            v3["priv_password"] = args.priv_password
        raw["v3"] = v3
    else:
        raw["community"] = args.community or "public"
    return parse_inventory({"devices": [raw]}, "command line").devices[0]


def _describe(profiles: list[Profile]) -> dict[str, dict[int, str]]:
    return {c.metric: c.enum for p in profiles for c in p.columns() if c.enum}


def cmd_probe(args: argparse.Namespace) -> int:
    try:
        profiles = load_profiles(args.profile_dir)
        device = _device_from_args(args)
        chosen = [profiles[name] for name in device.profiles if name in profiles]
        unknown = [name for name in device.profiles if name not in profiles]
    except (InventoryError, ProfileError) as err:
        print(f"wardwatch: {err}", file=sys.stderr)
        return 2
    if unknown:
        print(
            f"wardwatch: unknown profile(s) {', '.join(unknown)}; known: {', '.join(sorted(profiles))}",
            file=sys.stderr,
        )
        return 2
    target = make_target(device, SnmpSettings())

    async def run() -> int:
        client = SnmpClient()
        try:
            result = await poll_once(client, target, chosen)
        except SnmpError as err:
            print(f"error ({err.kind}): {err}", file=sys.stderr)
            return 1
        finally:
            client.close()
        enums = _describe(chosen)
        print(f"# {target.name}: {len(result.samples)} series in {result.duration_seconds * 1000:.0f} ms")
        if result.sys_uptime_seconds is not None:
            print(f"# sysUpTime {result.sys_uptime_seconds:.0f} s")
        for (name, labels), value in sorted(result.samples.items()):
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            state = enums.get(name, {}).get(int(value)) if value == int(value) else None
            suffix = f"  # {state}" if state else ""
            print(f"{name}{{{label_text}}} {value:g}{suffix}")
        return 0

    return asyncio.run(run())


def cmd_check_inventory(args: argparse.Namespace) -> int:
    try:
        profiles = load_profiles(args.profile_dir)
        inventory = load_inventory(args.file, known_profiles=profiles)
    except (InventoryError, ProfileError) as err:
        print(f"wardwatch: bad inventory:\n{err}", file=sys.stderr)
        return 2
    for d in inventory.devices:
        print(
            f"{d.name}: {d.address}:{d.port} v{d.version} profiles={','.join(inventory.profiles_of(d))}"
            + (f" parent={d.parent}" if d.parent else "")
        )
    print(f"ok: {len(inventory.devices)} devices")
    return 0
