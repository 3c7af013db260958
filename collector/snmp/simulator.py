"""Simulated SNMP devices for tests and the demo: snmpsim serving ``collector/snmp/recordings``.

Each recording is a device; its community is the file name (``core-switch``, ``ups``, ...).
``start_simulator(port=...)`` runs snmpsim in a child process bound to 127.0.0.1 and waits (bounded)
until it answers; ``Simulator.stop()`` ends it by its pid. ``wardwatch demo`` runs the same command
(``serve_command``) as one of its own children and waits with ``answers``.

snmpsim insists on dropping root privileges and then imports modules lazily (dbm, codecs), which
fails when the interpreter lives under /root. Run as root (containers, CI), the child therefore
keeps its user; it listens on loopback only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from collector.snmp.demo_recordings import RECORDINGS_DIR

DEMO_DEVICES = ("core-switch", "access-switch", "dist-switch", "storage-array", "ups")


@dataclass
class Simulator:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    cache_dir: tempfile.TemporaryDirectory[str]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.cache_dir.cleanup()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def answers(host: str, port: int, community: str = "ups") -> bool:
    """A hand-built v2c GET sysUpTime.0; any answer means the simulator serves."""
    c = community.encode()
    varbind = bytes.fromhex("300c06082b06010201010300" + "0500")  # {1.3.6.1.2.1.1.3.0, NULL}
    vbl = b"\x30" + bytes([len(varbind)]) + varbind
    pdu_body = b"\x02\x01\x01" + b"\x02\x01\x00" + b"\x02\x01\x00" + vbl
    pdu = b"\xa0" + bytes([len(pdu_body)]) + pdu_body
    msg_body = b"\x02\x01\x01" + b"\x04" + bytes([len(c)]) + c + pdu
    msg = b"\x30" + bytes([len(msg_body)]) + msg_body
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        try:
            s.sendto(msg, (host, port))
            s.recvfrom(4096)
        except OSError:
            return False
    return True


def serve_command(host: str, port: int, cache_dir: Path | str, data_dir: Path = RECORDINGS_DIR) -> list[str]:
    """The child process's command line: snmpsim serving ``data_dir`` on ``host:port``, logging nothing."""
    return [
        sys.executable,
        "-m",
        "collector.snmp.simulator",
        f"--data-dir={data_dir}",
        f"--agent-udpv4-endpoint={host}:{port}",
        f"--cache-dir={cache_dir}",
        "--logging-method=null",
    ]


def start_simulator(
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    data_dir: Path = RECORDINGS_DIR,
    probe_community: str = "ups",
    ready_timeout_seconds: float = 20.0,
) -> Simulator:
    port = port or free_udp_port(host)
    cache = tempfile.TemporaryDirectory(prefix="wardwatch-snmpsim-")
    log_path = Path(cache.name) / "snmpsim.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            serve_command(host, port, cache.name, data_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
    sim = Simulator(process, host, port, cache, log_path)
    deadline = time.monotonic() + ready_timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log_path.read_text(errors="replace")[-2000:]
            sim.stop()
            raise RuntimeError(f"snmpsim exited with {process.returncode}:\n{output}")
        if answers(host, port, probe_community):
            return sim
        time.sleep(0.1)
    sim.stop()
    raise RuntimeError(f"snmpsim did not answer on {host}:{port} within {ready_timeout_seconds}s")


def _serve(argv: list[str]) -> int:
    """Child process entry: snmpsim's responder, without the root privilege drop (see above)."""
    from snmpsim import daemon
    from snmpsim.commands import responder

    if os.geteuid() == 0:

        class _KeepPrivileges:
            def __init__(self, *args: object, **kwargs: object) -> None:
                pass

            def __enter__(self) -> None:
                return None

            def __exit__(self, *exc: object) -> None:
                return None

        daemon.PrivilegesOf = _KeepPrivileges  # type: ignore[misc,assignment]
    sys.argv = ["snmpsim-command-responder", *argv]
    return int(responder.main() or 0)


if __name__ == "__main__":
    # Without arguments: serve the demo devices on 127.0.0.1:11161 (deploy/examples/inventory.yaml).
    args = sys.argv[1:] or [
        f"--data-dir={RECORDINGS_DIR}",
        "--agent-udpv4-endpoint=127.0.0.1:11161",
        f"--cache-dir={tempfile.mkdtemp(prefix='wardwatch-snmpsim-')}",
    ]
    sys.exit(_serve(args))
