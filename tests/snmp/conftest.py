"""Real SNMP agents on loopback, once per session: net-snmp's snmpd (v2c + a v3 authPriv user) and
snmpsim serving the demo recordings. Both are stopped by their pid at the end."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.snmp.inventory import Device, parse_inventory
from collector.snmp.simulator import Simulator, free_udp_port, start_simulator

COMMUNITY = "hosp-ro-2c-Secret"
V3_USER = "wardwatch"
V3_AUTH = "auth-Passw0rd-42"
V3_PRIV = "priv-Passw0rd-42"
V3_ENGINE_ID = "0x80001f8880aabbccdd00112233"
# (user, auth protocol, auth password, priv protocol, priv password, snmpd rouser level)
EXTRA_V3_USERS = [
    ("ww-sha1", "SHA", "auth-sha1-Pass", "AES", "priv-sha1-Pass", "priv"),
    ("ww-sha224", "SHA-224", "auth-224-Pass", "AES-192", "priv-224-Pass", "priv"),
    ("ww-sha384", "SHA-384", "auth-384-Pass", "AES-256", "priv-384-Pass", "priv"),
    ("ww-sha512", "SHA-512", "auth-512-Pass", "AES-256", "priv-512-Pass", "priv"),
    ("ww-authonly", "SHA-256", "auth-only-Pass", "", "", "auth"),
    ("ww-noauth", "", "", "", "", "noauth"),
    ("ww-sha1-aes192", "SHA", "auth-sha1-Pass2", "AES-192", "priv-sha1-Pass2", "priv"),  # key extension
    ("ww-sha1-aes256", "SHA", "auth-sha1-Pass3", "AES-256", "priv-sha1-Pass3", "priv"),
]


@dataclass(frozen=True)
class Snmpd:
    host: str
    port: int
    conf_dir: Path

    def device(self, name: str = "snmpd-v2c", **over: object) -> Device:
        raw: dict[str, object] = {
            "name": name,
            "address": self.host,
            "port": self.port,
            "community": COMMUNITY,
            "timeout_seconds": 0.5,
            "retries": 0,
            "profiles": ["system", "interfaces", "host-resources"],
            "labels": {"site": "lab", "role": "server"},
        }
        raw.update(over)
        return parse_inventory({"devices": [raw]}, "test").devices[0]

    def v3_device(self, name: str = "snmpd-v3", **v3_over: object) -> Device:
        v3: dict[str, object] = {
            "user": V3_USER,
            "security_level": "authPriv",
            "auth_protocol": "SHA-256",
            "auth_password": V3_AUTH,
            "priv_protocol": "AES-128",
            "priv_password": V3_PRIV,
        }
        v3.update(v3_over)
        return self.device(name, version="3", community=None, v3=v3)


def _snmpget_ok(port: int) -> bool:
    try:
        out = subprocess.run(
            [
                "snmpget",
                "-v2c",
                "-c",
                COMMUNITY,
                "-t",
                "0.3",
                "-r",
                "0",
                f"127.0.0.1:{port}",
                "1.3.6.1.2.1.1.3.0",
            ],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0


@contextmanager
def running_snmpd(root: Path, extra_conf: str = "") -> Iterator[Snmpd]:
    """net-snmp's snmpd on a free loopback port with the test's community and v3 users (plus ``extra_conf``
    lines), in ``root``; stopped by its pid on exit."""
    if shutil.which("snmpd") is None:
        pytest.fail("snmpd is not installed (apt-get install snmpd snmp)")
    conf_dir, persist = root / "conf", root / "persist"
    conf_dir.mkdir()
    persist.mkdir()
    port = free_udp_port()
    extra_users = "".join(
        f"createUser {u} {a} {ap} {p} {pp}".rstrip() + f"\nrouser {u} {lvl}\n"
        for u, a, ap, p, pp, lvl in EXTRA_V3_USERS
    )
    (conf_dir / "snmpd.conf").write_text(
        f"""agentAddress udp:127.0.0.1:{port}
rocommunity {COMMUNITY} 127.0.0.1
createUser {V3_USER} SHA-256 {V3_AUTH} AES {V3_PRIV}
rouser {V3_USER} priv
{extra_users}sysName wardwatch-lab-snmpd
sysLocation lab rack 1
sysContact duty desk
{extra_conf}"""
    )
    env = {
        "SNMPCONFPATH": str(conf_dir),
        "SNMP_PERSISTENT_DIR": str(persist),
        "PATH": "/usr/sbin:/usr/bin:/bin",
    }
    log = (root / "snmpd.log").open("wb")
    proc = subprocess.Popen(
        ["snmpd", "-f", "-Lo", "-C", "-c", str(conf_dir / "snmpd.conf"), "-p", str(root / "snmpd.pid")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while not _snmpget_ok(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"snmpd did not start:\n{(root / 'snmpd.log').read_text(errors='replace')[-2000:]}"
                )
            time.sleep(0.1)
        yield Snmpd("127.0.0.1", port, conf_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    with running_snmpd(tmp_path_factory.mktemp("snmpd")) as agent:
        yield agent


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    sim = start_simulator()
    yield sim
    sim.stop()
