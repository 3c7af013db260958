"""Writes the demo devices' snmpsim recordings (``collector/snmp/recordings/*.snmprec``).

``python -m collector.snmp.demo_recordings`` regenerates them. The values are realistic (a Huawei
48-port core switch, an H3C access switch, a Cisco distribution switch, a Huawei OceanStor array, a
UPS) and deterministic, with a few faults for the demo to find: one enabled port without a link (the access
switch's GE1/0/12, "to ward 5 nurse station PC"; every other enabled port is up), a failed disk in the array, a
failed power supply in the access switch. The OIDs here are typed from the reference (oids.md, the MIBs) on purpose,
separately from the profiles: the profile tests poll these recordings, so an OID mistyped in a
profile shows up as a missing metric instead of being copied into its own test data.

snmprec lines are ``OID|TAG|VALUE``, sorted by OID; tags: 2 INTEGER, 4 OCTET STRING (4x hex),
6 OID, 64 IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks, 70 Counter64.
"""

from __future__ import annotations

import random
from pathlib import Path

RECORDINGS_DIR = Path(__file__).with_name("recordings")

SYSTEM = "1.3.6.1.2.1.1"
IF_TABLE = "1.3.6.1.2.1.2.2.1"
IFX_TABLE = "1.3.6.1.2.1.31.1.1.1"
ENT_PHYSICAL = "1.3.6.1.2.1.47.1.1.1.1"
ENT_SENSOR = "1.3.6.1.2.1.99.1.1.1"
HR = "1.3.6.1.2.1.25"
HUAWEI_ENTITY = "1.3.6.1.4.1.2011.5.25.31.1.1"
H3C_ENTITY = "1.3.6.1.4.1.25506.2.6.1.1.1.1"
CISCO = "1.3.6.1.4.1.9.9"
OCEANSTOR = "1.3.6.1.4.1.34774.4.1"
UPS = "1.3.6.1.2.1.33.1"

Record = dict[str, tuple[int | str, object]]

# The one port that is down in the demo, on the access switch: enabled (admin up) without a link. Every other
# enabled port of every device is up, so `make run` opens one "interface down" incident, not one per random port.
NURSE_STATION_PORT = 12  # GE1/0/12, ifIndex 12
NURSE_STATION_ALIAS = "to ward 5 nurse station PC"


def _system(rec: Record, descr: str, object_id: str, name: str, location: str, uptime_ticks: int) -> None:
    rec[f"{SYSTEM}.1.0"] = (4, descr)
    rec[f"{SYSTEM}.2.0"] = (6, object_id)
    rec[f"{SYSTEM}.3.0"] = (67, uptime_ticks)
    rec[f"{SYSTEM}.4.0"] = (4, "IT 7x24 duty desk, ext. 8110")
    rec[f"{SYSTEM}.5.0"] = (4, name)
    rec[f"{SYSTEM}.6.0"] = (4, location)


def _interfaces(
    rec: Record,
    rnd: random.Random,
    ports: list[tuple[str, str, int, str]],
    down: frozenset[str] = frozenset(),
) -> None:
    """ports: (ifName, ifDescr, speed Mb/s, ifAlias). Ports whose alias starts "unused" are administratively
    down; of the others, those named in ``down`` (ifName) have no link, every other one is up."""
    rec["1.3.6.1.2.1.2.1.0"] = (2, len(ports))
    if not down <= {name for name, *_ in ports}:
        raise ValueError(f"no such port: {sorted(down - {name for name, *_ in ports})}")
    for i, (name, descr, speed, alias) in enumerate(ports, start=1):
        admin_up = not alias.startswith("unused")
        oper = 1 if admin_up and name not in down else 2
        busy = oper == 1
        rec[f"{IF_TABLE}.1.{i}"] = (2, i)
        rec[f"{IF_TABLE}.2.{i}"] = (4, descr)
        rec[f"{IF_TABLE}.3.{i}"] = (2, 6 if speed else 24)
        rec[f"{IF_TABLE}.5.{i}"] = (66, min(speed * 1_000_000, 4_294_967_295))
        rec[f"{IF_TABLE}.7.{i}"] = (2, 1 if admin_up else 2)
        rec[f"{IF_TABLE}.8.{i}"] = (2, oper)
        rec[f"{IF_TABLE}.9.{i}"] = (67, rnd.randrange(100, 10_000_000))
        rec[f"{IF_TABLE}.13.{i}"] = (65, rnd.randrange(0, 500) if busy else 0)
        rec[f"{IF_TABLE}.14.{i}"] = (65, rnd.randrange(0, 40) if busy else 0)
        rec[f"{IF_TABLE}.19.{i}"] = (65, rnd.randrange(0, 300) if busy else 0)
        rec[f"{IF_TABLE}.20.{i}"] = (65, rnd.randrange(0, 10) if busy else 0)
        rec[f"{IFX_TABLE}.1.{i}"] = (4, name)
        octets_in = rnd.randrange(10**9, 10**14) if busy else 0
        octets_out = rnd.randrange(10**9, 10**14) if busy else 0
        rec[f"{IFX_TABLE}.6.{i}"] = (70, octets_in)
        rec[f"{IFX_TABLE}.7.{i}"] = (70, octets_in // 900)
        rec[f"{IFX_TABLE}.8.{i}"] = (70, octets_in // 90_000)
        rec[f"{IFX_TABLE}.9.{i}"] = (70, octets_in // 50_000)
        rec[f"{IFX_TABLE}.10.{i}"] = (70, octets_out)
        rec[f"{IFX_TABLE}.11.{i}"] = (70, octets_out // 900)
        rec[f"{IFX_TABLE}.12.{i}"] = (70, octets_out // 90_000)
        rec[f"{IFX_TABLE}.13.{i}"] = (70, octets_out // 50_000)
        rec[f"{IFX_TABLE}.15.{i}"] = (66, speed)
        rec[f"{IFX_TABLE}.18.{i}"] = (4, alias)


def _entities(rec: Record, entities: list[tuple[int, int, str]]) -> None:
    """entities: (entPhysicalIndex, entPhysicalClass, entPhysicalName)."""
    for index, cls, name in entities:
        rec[f"{ENT_PHYSICAL}.2.{index}"] = (4, name)
        rec[f"{ENT_PHYSICAL}.5.{index}"] = (2, cls)
        rec[f"{ENT_PHYSICAL}.7.{index}"] = (4, name)


def _sensors(rec: Record, sensors: list[tuple[int, int, int, int, int, str]]) -> None:
    """sensors: (index, type, scale, precision, value, units)."""
    for index, type_, scale, precision, value, units in sensors:
        rec[f"{ENT_SENSOR}.1.{index}"] = (2, type_)
        rec[f"{ENT_SENSOR}.2.{index}"] = (2, scale)
        rec[f"{ENT_SENSOR}.3.{index}"] = (2, precision)
        rec[f"{ENT_SENSOR}.4.{index}"] = (2, value)
        rec[f"{ENT_SENSOR}.5.{index}"] = (2, 1)
        rec[f"{ENT_SENSOR}.6.{index}"] = (4, units)


def core_switch() -> Record:
    rnd = random.Random(48)
    rec: Record = {}
    _system(
        rec,
        "Huawei Versatile Routing Platform Software VRP (R) software, Version 8.180 (CE6881 V200R019C10SPC800)",
        "1.3.6.1.4.1.2011.2.239.40",
        "HOSP-CORE-SW01",
        "Main building B1, data centre, row A rack 03",
        12_345_678_90,
    )
    wards = [
        "HIS-DB01",
        "HIS-DB02",
        "PACS-01",
        "LIS-APP01",
        "EMR-WEB01",
        "Ward-5F-AP",
        "OR-3F-AP",
        "Radiology-2F",
    ]
    ports = [("MEth0/0/0", "MEth0/0/0", 1000, "oob management")]
    for p in range(1, 49):
        alias = f"to {wards[p % len(wards)]}" if p <= 40 else f"unused port {p}"
        speed = 10_000 if p > 44 else 1000
        ports.append(
            (f"GE1/0/{p}" if speed == 1000 else f"XGE1/0/{p}", f"GigabitEthernet1/0/{p}", speed, alias)
        )
    _interfaces(rec, rnd, ports)
    entities = [
        (16842753, 9, "MPU Board 1"),
        (16842754, 9, "MPU Board 2"),
        (16908289, 7, "FAN 1"),
        (16973825, 6, "PSU 1"),
    ]
    _entities(rec, entities)
    for index, cls, _ in entities:
        rec[f"{HUAWEI_ENTITY}.1.1.2.{index}"] = (2, 3)
        rec[f"{HUAWEI_ENTITY}.1.1.5.{index}"] = (2, rnd.randrange(8, 35) if cls == 9 else 0)
        rec[f"{HUAWEI_ENTITY}.1.1.7.{index}"] = (2, rnd.randrange(30, 60) if cls == 9 else 0)
        rec[f"{HUAWEI_ENTITY}.1.1.11.{index}"] = (2, rnd.randrange(38, 52) if cls == 9 else 0)
        rec[f"{HUAWEI_ENTITY}.1.1.12.{index}"] = (2, 75 if cls == 9 else 0)
    for slot, fan in ((1, 1), (1, 2)):
        rec[f"{HUAWEI_ENTITY}.10.1.5.{slot}.{fan}"] = (2, 45)
        rec[f"{HUAWEI_ENTITY}.10.1.6.{slot}.{fan}"] = (2, 1)
        rec[f"{HUAWEI_ENTITY}.10.1.7.{slot}.{fan}"] = (2, 1 if fan == 1 else 2)
    for slot, psu in ((1, 1), (1, 2)):
        rec[f"{HUAWEI_ENTITY}.18.1.6.{slot}.{psu}"] = (2, 1)
    _sensors(rec, [(16842753, 8, 9, 0, 41, "celsius"), (16973825, 4, 9, 2, 1205, "volts")])
    return rec


def access_switch() -> Record:
    rnd = random.Random(24)
    rec: Record = {}
    _system(
        rec,
        "H3C Comware Platform Software, Software Version 7.1.070, Release 6329\nH3C S5130S-28S-EI",
        "1.3.6.1.4.1.25506.1.1529",
        "WARD5F-ACC-SW02",
        "Inpatient building 5F, weak-current room",
        98_765_432,
    )
    ports = [
        (f"GE1/0/{p}", f"GigabitEthernet1/0/{p}", 1000, f"5F bed {p} terminal" if p <= 20 else f"unused {p}")
        for p in range(1, 25)
    ]
    ports[NURSE_STATION_PORT - 1] = (
        f"GE1/0/{NURSE_STATION_PORT}",
        f"GigabitEthernet1/0/{NURSE_STATION_PORT}",
        1000,
        NURSE_STATION_ALIAS,
    )
    ports += [
        (f"XGE1/0/{p}", f"Ten-GigabitEthernet1/0/{p}", 10_000, "uplink to HOSP-CORE-SW01") for p in (25, 26)
    ]
    # The demo's one port down (its InterfaceDown incident, a minute after start): enabled, no link.
    _interfaces(rec, rnd, ports, down=frozenset({f"GE1/0/{NURSE_STATION_PORT}"}))
    entities = [(2, 3, "Chassis 1"), (3, 9, "Board 1"), (4, 7, "Fan 1"), (5, 6, "PSU 1"), (6, 6, "PSU 2")]
    _entities(rec, entities)
    for index, cls, _ in entities:
        rec[f"{H3C_ENTITY}.6.{index}"] = (2, rnd.randrange(5, 25) if cls == 9 else 0)
        rec[f"{H3C_ENTITY}.8.{index}"] = (2, rnd.randrange(40, 70) if cls == 9 else 0)
        rec[f"{H3C_ENTITY}.10.{index}"] = (66, 1024 * 1024 * 1024 if cls == 9 else 0)
        rec[f"{H3C_ENTITY}.12.{index}"] = (2, 44 if cls == 9 else 0)
        rec[f"{H3C_ENTITY}.19.{index}"] = (2, 51 if index == 6 else 2)  # PSU 2 failed
    return rec


def dist_switch() -> Record:
    rnd = random.Random(9)
    rec: Record = {}
    _system(
        rec,
        "Cisco IOS Software [Bengaluru], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.6.4",
        "1.3.6.1.4.1.9.1.2494",
        "OUTPATIENT-DIST-SW01",
        "Outpatient building 1F, IDF",
        45_678_901,
    )
    ports = [(f"Gi1/0/{p}", f"GigabitEthernet1/0/{p}", 1000, f"floor {p} access") for p in range(1, 9)]
    _interfaces(rec, rnd, ports)
    _entities(
        rec,
        [
            (1000, 3, "Switch 1 Chassis"),
            (1010, 8, "Switch 1 - Temp Inlet"),
            (1020, 8, "Switch 1 - PSU1 Volts"),
        ],
    )
    _sensors(rec, [(1010, 8, 9, 0, 29, "celsius"), (1020, 4, 8, 0, 12050, "volts")])  # 12050 mV
    rec[f"{CISCO}.109.1.1.1.1.2.1"] = (2, 1000)
    rec[f"{CISCO}.109.1.1.1.1.7.1"] = (66, 12)
    rec[f"{CISCO}.109.1.1.1.1.8.1"] = (66, 9)
    rec[f"{CISCO}.109.1.1.1.1.12.1"] = (66, 1_203_456)
    rec[f"{CISCO}.109.1.1.1.1.13.1"] = (66, 2_901_234)
    for i, name in ((1, "Processor"), (2, "I/O")):
        rec[f"{CISCO}.48.1.1.1.2.{i}"] = (4, name)
        rec[f"{CISCO}.48.1.1.1.5.{i}"] = (66, rnd.randrange(10**7, 10**8))
        rec[f"{CISCO}.48.1.1.1.6.{i}"] = (66, rnd.randrange(10**8, 10**9))
    rec[f"{CISCO}.13.1.3.1.2.1"] = (4, "Switch 1 - Inlet Temp Sensor")
    rec[f"{CISCO}.13.1.3.1.3.1"] = (66, 29)
    rec[f"{CISCO}.13.1.3.1.6.1"] = (2, 1)
    rec[f"{CISCO}.13.1.4.1.2.1"] = (4, "Switch 1 - FAN 1")
    rec[f"{CISCO}.13.1.4.1.3.1"] = (2, 1)
    rec[f"{CISCO}.13.1.5.1.2.1"] = (4, "Switch 1 - Power Supply A")
    rec[f"{CISCO}.13.1.5.1.3.1"] = (2, 1)
    rec[f"{CISCO}.13.1.5.1.2.2"] = (4, "Switch 1 - Power Supply B")
    rec[f"{CISCO}.13.1.5.1.3.2"] = (2, 5)  # notPresent
    return rec


def storage_array() -> Record:
    rnd = random.Random(34774)
    rec: Record = {}
    _system(
        rec,
        "ISM SNMP Agent (OceanStor 5310 V5)",
        "1.3.6.1.4.1.34774.4",
        "PACS-STOR01",
        "Main building B1, data centre, row B rack 07",
        3_000_000_000,
    )
    rec[f"{HR}.1.1.0"] = (67, 3_000_100_000)
    for i, (descr, units, size, used) in enumerate(
        [
            ("Physical memory", 1024, 67_108_864, 40_000_000),
            ("/", 4096, 2_621_440, 1_310_720),
            ("/OSM/log", 4096, 1_048_576, 104_857),
        ],
        start=1,
    ):
        rec[f"{HR}.2.3.1.1.{i}"] = (2, i)
        rec[f"{HR}.2.3.1.2.{i}"] = (6, "1.3.6.1.2.1.25.2.1.4")
        rec[f"{HR}.2.3.1.3.{i}"] = (4, descr)
        rec[f"{HR}.2.3.1.4.{i}"] = (2, units)
        rec[f"{HR}.2.3.1.5.{i}"] = (2, size)
        rec[f"{HR}.2.3.1.6.{i}"] = (2, used)
        rec[f"{HR}.2.3.1.7.{i}"] = (65, 0)
    for i in (196608, 196609):
        rec[f"{HR}.3.3.1.2.{i}"] = (2, rnd.randrange(10, 40))
    rec[f"{OCEANSTOR}.1.3.0"] = (2, 1)
    rec[f"{OCEANSTOR}.1.4.0"] = (2, 61_234_567)
    rec[f"{OCEANSTOR}.1.5.0"] = (2, 98_765_432)
    rec[f"{OCEANSTOR}.1.6.0"] = (4, "V500R007C61")
    for d in range(24):
        faulty = d == 17
        rec[f"{OCEANSTOR}.23.5.1.1.1.{d}"] = (4, f"CTE0.{d}")
        rec[f"{OCEANSTOR}.23.5.1.1.2.{d}"] = (2, 2 if faulty else 1)
        rec[f"{OCEANSTOR}.23.5.1.1.3.{d}"] = (2, 28 if faulty else 27)
        rec[f"{OCEANSTOR}.23.5.1.1.4.{d}"] = (4, f"CTE0.{d}")
        rec[f"{OCEANSTOR}.23.5.1.1.11.{d}"] = (2, rnd.randrange(28, 40))
        rec[f"{OCEANSTOR}.23.5.1.1.12.{d}"] = (4, "HSSD-D6223AL3T8N")
        rec[f"{OCEANSTOR}.23.5.1.1.25.{d}"] = (2, 20 if faulty else 100)
    for c, (name, role) in enumerate((("0A", 1), ("0B", 2))):
        rec[f"{OCEANSTOR}.23.5.2.1.1.{c}"] = (4, name)
        rec[f"{OCEANSTOR}.23.5.2.1.2.{c}"] = (2, 1)
        rec[f"{OCEANSTOR}.23.5.2.1.3.{c}"] = (2, 27)
        rec[f"{OCEANSTOR}.23.5.2.1.6.{c}"] = (2, role)
        rec[f"{OCEANSTOR}.23.5.2.1.8.{c}"] = (2, rnd.randrange(10, 50))
        rec[f"{OCEANSTOR}.23.5.2.1.9.{c}"] = (2, rnd.randrange(40, 70))
    for table in ("4", "5"):  # fans, BBUs
        for u in range(2):
            rec[f"{OCEANSTOR}.23.5.{table}.1.1.{u}"] = (4, f"CTE0.{'FAN' if table == '4' else 'BBU'}{u}")
            rec[f"{OCEANSTOR}.23.5.{table}.1.2.{u}"] = (4, f"CTE0.PSU{u}")
            rec[f"{OCEANSTOR}.23.5.{table}.1.3.{u}"] = (2, 1)
            rec[f"{OCEANSTOR}.23.5.{table}.1.4.{u}"] = (2, 2)
    rec[f"{OCEANSTOR}.23.5.6.1.2.0"] = (4, "CTE0")
    rec[f"{OCEANSTOR}.23.5.6.1.4.0"] = (2, 1)
    rec[f"{OCEANSTOR}.23.5.6.1.5.0"] = (2, 27)
    rec[f"{OCEANSTOR}.23.5.6.1.8.0"] = (2, 31)
    for p, (name, total, used) in enumerate(
        (("PACS_Pool", 60_000_000, 45_000_000), ("HIS_Pool", 38_000_000, 16_000_000))
    ):
        rec[f"{OCEANSTOR}.23.4.2.1.2.{p}"] = (4, name)
        rec[f"{OCEANSTOR}.23.4.2.1.5.{p}"] = (2, 1)
        rec[f"{OCEANSTOR}.23.4.2.1.6.{p}"] = (2, 27)
        rec[f"{OCEANSTOR}.23.4.2.1.7.{p}"] = (2, total)
        rec[f"{OCEANSTOR}.23.4.2.1.8.{p}"] = (2, used)
        rec[f"{OCEANSTOR}.23.4.2.1.9.{p}"] = (2, total - used)
        rec[f"{OCEANSTOR}.23.4.2.1.14.{p}"] = (2, 80)
    for lun, name in enumerate(("pacs_lun01", "pacs_lun02", "his_db_data", "his_db_log")):
        rec[f"{OCEANSTOR}.19.9.4.1.2.{lun}"] = (4, name)
        rec[f"{OCEANSTOR}.19.9.4.1.5.{lun}"] = (70, 2 * 1024**3)
        rec[f"{OCEANSTOR}.19.9.4.1.11.{lun}"] = (2, 1)
    return rec


def ups() -> Record:
    rec: Record = {}
    _system(
        rec,
        "Network Management Card for UPS, RFC 1628",
        "1.3.6.1.4.1.935",
        "DC-UPS-01",
        "Main building B1, UPS room",
        1_555_000_00,
    )
    rec[f"{UPS}.1.1.0"] = (4, "KSTAR")
    rec[f"{UPS}.1.2.0"] = (4, "YDC9330H")
    rec[f"{UPS}.1.5.0"] = (4, "Data centre UPS A")
    rec[f"{UPS}.2.1.0"] = (2, 2)
    rec[f"{UPS}.2.2.0"] = (2, 0)
    rec[f"{UPS}.2.3.0"] = (2, 42)
    rec[f"{UPS}.2.4.0"] = (2, 100)
    rec[f"{UPS}.2.5.0"] = (2, 4096)  # 409.6 V (0.1 V units)
    rec[f"{UPS}.2.7.0"] = (2, 27)
    rec[f"{UPS}.3.1.0"] = (65, 3)
    for line in (1, 2, 3):
        rec[f"{UPS}.3.3.1.1.{line}"] = (2, line)
        rec[f"{UPS}.3.3.1.2.{line}"] = (2, 500)  # 50.0 Hz
        rec[f"{UPS}.3.3.1.3.{line}"] = (2, 229 + line)
        rec[f"{UPS}.4.4.1.1.{line}"] = (2, line)
        rec[f"{UPS}.4.4.1.2.{line}"] = (2, 230)
        rec[f"{UPS}.4.4.1.5.{line}"] = (2, 35 + 4 * line)
    rec[f"{UPS}.4.1.0"] = (2, 3)
    rec[f"{UPS}.6.1.0"] = (66, 0)
    rec[f"{UPS}.7.3.0"] = (2, 1)
    return rec


DEVICES = {
    "core-switch": core_switch,
    "access-switch": access_switch,
    "dist-switch": dist_switch,
    "storage-array": storage_array,
    "ups": ups,
}


def _format(tag: int | str, value: object) -> str:
    if tag == 4 and isinstance(value, str) and (not value.isprintable() or "|" in value):
        return f"4x|{value.encode().hex()}"
    return f"{tag}|{value}"


def render(record: Record) -> str:
    lines = [
        f"{oid}|{_format(tag, value)}"
        for oid, (tag, value) in sorted(
            record.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("."))
        )
    ]
    return "\n".join(lines) + "\n"


def write_all(folder: Path = RECORDINGS_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in DEVICES.items():
        path = folder / f"{name}.snmprec"
        path.write_text(render(build()), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all():
        print(p, sum(1 for _ in p.open()))
