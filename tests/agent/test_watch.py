"""Prompt reports (``agent/watch.py``): the kernel's notifications, from real sockets and real processes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agent import watch
from agent.config import PortCheckConfig, ProcessCheckConfig
from agent.probes.processes import ProcessProbe
from agent.probes.system import SystemProbe
from agent.watch import ListenerWatch, ProcessWatch, Prompt, listener_filter, local_port_numbers

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="sock_diag and pidfd are Linux's"
)


def _listener(host: str = "127.0.0.1") -> tuple[socket.socket, int]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen()
    return sock, sock.getsockname()[1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- which ports can be watched -----------------------------------------------------------------------------------


def test_only_checks_of_this_host_are_watched() -> None:
    checks = [
        PortCheckConfig(name="his", target="127.0.0.1:8080"),
        PortCheckConfig(name="ssh", target="[::1]:22"),
        PortCheckConfig(name="pg", target="localhost:5432"),
        PortCheckConfig(name="any", target="0.0.0.0:9000"),
        PortCheckConfig(name="self", target=f"{socket.gethostname()}:7000"),
        PortCheckConfig(name="remote", target="192.0.2.10:1521"),  # TEST-NET: never this host
        PortCheckConfig(name="remote-name", target="pacs-archive.example.org:104"),
    ]
    assert local_port_numbers(checks) == {8080, 22, 5432, 9000, 7000}


# -- the kernel filter and the listener watch --------------------------------------------------------------------


@linux_only
def test_the_kernel_filter_passes_only_a_watched_listener() -> None:
    """The BPF program attached to a real sock_diag socket: closing another listener, and a connection on the
    watched port, deliver nothing; closing the watched listener delivers its notification."""
    watched, port = _listener()
    other, _ = _listener()
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, watch.NETLINK_SOCK_DIAG)
    try:
        watch._attach_filter(nl, listener_filter({port}))
        nl.bind((0, 1 << (watch.SKNLGRP_INET_TCP_DESTROY - 1)))
        nl.settimeout(0.3)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = watched.accept()
        client.close()
        accepted.close()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = (
            watched.accept()
        )  # closed abortively (SO_LINGER 0), as nginx does with timed-out clients:
        accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        accepted.close()  # destroyed with the watched port and peer port 0, but the peer's address
        client.close()
        other.close()
        with pytest.raises(TimeoutError):
            nl.recv(65536)
        watched.close()
        data = nl.recv(65536)
        sport, dport = struct.unpack_from("!HH", data, watch.DIAG_PORTS_OFFSET)
        assert (sport, dport) == (port, 0)
    finally:
        nl.close()
        watched.close()
        other.close()


@linux_only
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_a_watched_listener_closing_is_seen_within_milliseconds(host: str) -> None:
    loop = asyncio.get_running_loop()
    sock, port = _listener(host)
    seen: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    lw = ListenerWatch({port}, lambda p: seen.put_nowait((p, time.perf_counter())))
    assert lw.start(loop)
    try:
        closed_at = time.perf_counter()
        sock.close()
        got, at = await asyncio.wait_for(seen.get(), 5)
        assert got == port and at - closed_at < 0.5  # in practice well under a millisecond
        await asyncio.sleep(0.1)
        assert seen.empty()  # one notification for one listener
    finally:
        lw.close(loop)
        sock.close()


# -- processes -----------------------------------------------------------------------------------------------------


@linux_only
async def test_a_check_is_told_only_when_every_process_it_counted_has_exited() -> None:
    loop = asyncio.get_running_loop()
    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    gone: asyncio.Queue[str] = asyncio.Queue()
    pw = ProcessWatch(gone.put_nowait)
    try:
        pw.track(loop, {"his-app": {p.pid for p in procs}, "other": set()})
        procs[0].kill()
        procs[0].wait()
        await asyncio.sleep(0.2)
        assert gone.empty()  # one of two workers left: the service still runs
        procs[1].kill()
        procs[1].wait()
        assert await asyncio.wait_for(gone.get(), 5) == "his-app"
    finally:
        pw.close()
        for p in procs:
            p.kill()
            p.wait()


@linux_only
async def test_the_pidfd_budget_goes_to_whole_checks_smallest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "MAX_WATCHED_PROCESSES", 3)
    loop = asyncio.get_running_loop()
    big = [subprocess.Popen(["sleep", "60"]) for _ in range(4)]  # more than the budget: left to the interval
    small = subprocess.Popen(["sleep", "60"])
    gone: asyncio.Queue[str] = asyncio.Queue()
    pw = ProcessWatch(gone.put_nowait)
    try:
        pw.track(loop, {"big": {p.pid for p in big}, "small": {small.pid}})
        for p in big:
            p.kill()
            p.wait()
        small.kill()
        small.wait()
        assert await asyncio.wait_for(gone.get(), 5) == "small"
        await asyncio.sleep(0.2)
        assert gone.empty()  # "big" was not watched: nothing said about it
    finally:
        pw.close()
        for p in [*big, small]:
            p.kill()
            p.wait()


@linux_only
def test_a_zombie_is_not_counted_as_running(tmp_path: Path) -> None:
    exe = tmp_path / "wwzombie"
    exe.write_bytes(Path("/bin/sleep").read_bytes())
    exe.chmod(0o755)
    probe = ProcessProbe([ProcessCheckConfig(name="z", process_name="wwzombie")])
    child = subprocess.Popen([str(exe), "60"])
    try:
        assert probe.sample()[0]["count"] == 1
        os.kill(child.pid, 9)  # not waited for: a zombie until its parent reaps it
        deadline = time.monotonic() + 5
        while probe.sample()[0]["count"] != 0:
            assert time.monotonic() < deadline, "the zombie is still counted"
            time.sleep(0.05)
        assert child.poll() is not None  # reaped only now
    finally:
        child.kill()
        child.wait()


# -- the prompt ---------------------------------------------------------------------------------------------------


async def test_prompts_are_coalesced_and_rationed() -> None:
    clock = FakeClock()
    prompt = Prompt(15.0, clock=clock)
    stop = asyncio.Event()
    assert await prompt.wait(stop, 0) is False  # nothing asked
    assert prompt.request("a") and prompt.request("b")  # the second goes with the first
    assert await prompt.wait(stop, 1) is True
    assert await prompt.wait(stop, 0) is False
    for _ in range(watch.PROMPT_BURST - 1):  # the rest of the burst
        assert prompt.request("x")
        assert await prompt.wait(stop, 1) is True
    assert prompt.request("one too many") is False
    assert await prompt.wait(stop, 0) is False
    clock.now += 14.0
    assert prompt.request("not yet a whole interval later") is False
    clock.now += 1.0
    assert prompt.request("an interval later")  # one token per interval
    assert await prompt.wait(stop, 1) is True
    assert prompt.request("again at once") is False
    stop.set()
    clock.now += 1000
    assert prompt.request("after a long quiet")
    assert await prompt.wait(stop, 1) is False  # stopping wins


async def test_a_due_regular_cycle_goes_before_and_covers_a_pending_prompt() -> None:
    prompt = Prompt(1.0, clock=FakeClock())
    stop = asyncio.Event()
    assert prompt.request("listener closed")
    assert await prompt.wait(stop, 0) is False  # no time left: the regular cycle runs, and reports it
    assert await prompt.wait(stop, 0.05) is False  # the request was covered, not kept


# -- prompt samples keep the last cycle's CPU ratios --------------------------------------------------------------


def test_a_prompt_system_sample_repeats_the_last_cycles_cpu() -> None:
    probe = SystemProbe()
    probe.sample()
    regular = probe.sample()["cpu"]
    assert probe.sample(prompt=True)["cpu"] is regular  # not measured again over the last few microseconds


def test_a_prompt_process_sample_counts_afresh_and_keeps_cpu_ratios() -> None:
    worker = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: pass"])
    try:
        probe = ProcessProbe([ProcessCheckConfig(name="busy", cmdline_regex=r"while True: pass")])
        probe.sample()
        time.sleep(0.3)
        (regular,) = probe.sample()
        assert regular["count"] == 1 and regular["cpu_ratio"] > 0.3
        assert probe.pids_by_check == {"busy": {worker.pid}}
        time.sleep(0.1)
        (prompt,) = probe.sample(prompt=True)
        assert prompt["count"] == 1 and prompt["cpu_ratio"] == regular["cpu_ratio"]
        time.sleep(0.3)
        (after,) = probe.sample()  # the next regular cycle measures against the last regular one, 0.4 s back
        assert after["cpu_ratio"] > 0.3
        worker.kill()
        worker.wait()
        (prompt,) = probe.sample(prompt=True)
        assert prompt["count"] == 0 and probe.pids_by_check == {"busy": set()}
    finally:
        worker.kill()
        worker.wait()


# -- the agent as a process ---------------------------------------------------------------------------------------


async def _print_agent(tmp_path: Path, port: int, **settings: object) -> asyncio.subprocess.Process:
    """The real agent with ``--print`` and one check of the local ``port``."""
    config = tmp_path / "agent.yaml"
    check = {"name": "his", "target": f"127.0.0.1:{port}"}
    config.write_text(
        yaml.safe_dump(
            {
                "host": "his-app-01",
                "spool": {"dir": str(tmp_path / "spool")},
                "checks": {"ports": [check], "temperatures": False},
                **settings,
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "--config", str(config), "--print", cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


async def _reports_until(proc: asyncio.subprocess.Process, want: int, timeout: float) -> list[dict]:
    assert proc.stdout is not None
    reports: list[dict] = []
    async with asyncio.timeout(timeout):
        while len(reports) < want:
            line = await proc.stdout.readline()
            assert line, "the agent stopped"
            reports.append(json.loads(line))
    return reports


@linux_only
@pytest.mark.parametrize("prompt_reports", [True, False])
async def test_the_agent_reports_a_closed_port_at_once_and_only_when_asked_to(
    tmp_path: Path, prompt_reports: bool
) -> None:
    sock, port = _listener()
    proc = await _print_agent(tmp_path, port, interval_seconds=30, prompt_reports=prompt_reports)
    try:
        (first,) = await _reports_until(proc, 1, 30)
        assert first["ports"][0]["up"] is True
        await asyncio.sleep(0.3)  # the agent has the listener in its watch
        closed_at = time.time()
        sock.close()
        if prompt_reports:
            (second,) = await _reports_until(proc, 1, 5)  # the interval is 30 s
            assert second["ports"][0]["up"] is False and second["seq"] == 2
            assert second["timestamp"] - closed_at < 2
            assert second["system"]["cpu"] == first["system"]["cpu"]  # the last cycle's ratios, not noise
        else:
            with pytest.raises(TimeoutError):
                await _reports_until(proc, 1, 2)
    finally:
        sock.close()
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    if prompt_reports:
        assert f"a listener on port {port} closed: reporting at once" in err.decode()


@linux_only
async def test_a_prompt_cycle_leaves_the_regular_schedule_alone(tmp_path: Path) -> None:
    sock, port = _listener()
    proc = await _print_agent(tmp_path, port, interval_seconds=1)
    try:
        (first,) = await _reports_until(proc, 1, 30)
        await asyncio.sleep(0.4)
        sock.close()  # about 0.4 s into the first interval
        reports = [first, *await _reports_until(proc, 3, 10)]
    finally:
        sock.close()
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)
    t0 = first["timestamp"]
    offsets = [r["timestamp"] - t0 for r in reports]
    ups = [r["ports"][0]["up"] for r in reports]
    assert ups == [True, False, False, False]
    assert 0.3 < offsets[1] < 0.9  # the prompt report, between the first two regular ones
    assert abs(offsets[2] - 1) < 0.25 and abs(offsets[3] - 2) < 0.25  # still on the 1 s schedule
