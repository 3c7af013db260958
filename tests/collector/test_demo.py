"""``make run``'s demo as a new user gets it, on free loopback ports and a temporary data folder: the simulated
SNMP devices and the local agent reach /metrics and Prometheus, incidents page people through the demo pager
with acknowledge links to the demo's collector, the link secret is never shown, and Ctrl-C leaves no process."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from collector.app import COMPONENTS
from collector.demo import DEFAULT_PORTS
from collector.demo_pager import Page, read_page
from collector.snmp.simulator import free_udp_port
from tests.support.prometheus import Prometheus, free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
DEVICES = ("HOSP-CORE-SW01", "OUTPATIENT-DIST-SW01", "WARD5F-ACC-SW02", "PACS-STOR01", "DC-UPS-01")
T = TypeVar("T")


class Output:
    """The demo's console, read on a thread so waits stay bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        self._stdout = proc.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stdout:
            self._queue.put(line)

    def close(self) -> None:
        """After the demo exited: the rest of its output, then the pipe closed."""
        self._thread.join(timeout=10)
        self._stdout.close()

    def text(self) -> str:
        while not self._queue.empty():
            self.lines.append(self._queue.get_nowait())
        return "".join(self.lines)


def eventually(check: Callable[[], T | None], what: str, out: Output, timeout: float) -> T:
    """Poll another process's output (bounded): there is no event to await across processes."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what} did not happen within {timeout}s; the demo said:\n{out.text()[-4000:]}"
            )
        time.sleep(0.25)


def get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
            return resp.read().decode()
    except OSError:
        return ""


def processes_mentioning(marker: str) -> dict[int, str]:
    """pid -> command line of every process whose command line holds ``marker`` (the test's data folder)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found[int(entry.name)] = cmdline
    return found


def test_the_pager_reads_each_channel() -> None:
    book = {("sms", "+8613800000301"): "马超 (ma-chao)", ("wecom", "LiNa"): "李娜 (li-na)"}
    subject = "【P2 告警】INC-2026-000001 his-db-01: backup check his-daily finds no files"
    link = "http://127.0.0.1:9400/links/eyJpIjoi.abc-_"
    sms = {
        "phone": "+8613800000301",
        "number": "INC-2026-000001",
        "text": f"{subject}\n位置: x\n确认处理: {link}",
    }
    wecom = {"msgtype": "markdown", "markdown": {"content": f"### {subject}\n[确认处理]({link})\n\n<@LiNa>"}}
    dingtalk = {"msgtype": "markdown", "markdown": {"title": subject, "text": f"### {subject}"}, "at": {"atMobiles": ["+86139"]}}  # fmt: skip
    webhook = {
        "kind": "page",
        "person": {"id": "sun-li", "name": "孙丽"},
        "incident": {"number": "INC-2026-000001", "severity": "P2", "title": "t"},
        "links": {"acknowledge": link, "resolve": None},
    }
    title = "his-db-01: backup check his-daily finds no files"
    assert read_page("/sms", sms, book) == Page(
        "sms", "马超 (ma-chao)", "page", "P2", "INC-2026-000001", title, link
    )
    assert read_page("/wecom", wecom, book) == Page("wecom", "李娜 (li-na)", "page", "P2", "INC-2026-000001", title, link)  # fmt: skip
    assert read_page("/dingtalk", dingtalk, book).who == "+86139"  # not in the roster: the address
    assert read_page("/webhook", webhook, book) == Page("webhook", "孙丽 (sun-li)", "page", "P2", "INC-2026-000001", "t", link)  # fmt: skip
    update = {
        "phone": "+8613800000301",
        "number": "INC-2026-000001",
        "text": f"【P2 进展 已解决】INC-2026-000001 {title}",
    }
    assert read_page("/sms", update, book) == Page(
        "sms", "马超 (ma-chao)", "progress", "P2", "INC-2026-000001", f"[已解决] {title}", None
    )
    with pytest.raises(ValueError):
        read_page("/feishu", {}, book)


def test_make_run_shows_devices_agent_and_pages_and_stops_cleanly(tmp_path: Path) -> None:
    assert shutil.which("prometheus"), "prometheus is not installed (make test installs Debian's package)"
    data = tmp_path / "demo"
    ports = {
        "collector": free_port(),
        "prometheus": free_port(),
        "pager": free_port(),
        "snmp": free_udp_port(),
        "traps": free_udp_port(),
    }
    assert set(ports) == set(DEFAULT_PORTS.__dataclass_fields__)
    collector = f"http://127.0.0.1:{ports['collector']}"
    cmd = [sys.executable, "-m", "collector.demo", "--data", str(data)]
    cmd += [f"--port={name}={port}" for name, port in ports.items()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDWATCH_")}
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out = Output(proc)
    try:
        eventually(lambda: "Ctrl-C stops everything" in out.text(), "the banner", out, 90)
        banner = out.text()
        for part in (collector, f"127.0.0.1:{ports['prometheus']}", f"127.0.0.1:{ports['pager']}", *DEVICES):
            assert part in banner
        assert f"incidents list --store {data / 'wardwatch.db'}" in banner
        assert "roster who" in banner and "on duty now" in banner

        def metrics_show_everything() -> str | None:
            text = get(f"{collector}/metrics")
            up = sorted(x for x in text.splitlines() if x.startswith("wardwatch_snmp_up{"))
            devices_up = len(up) == len(DEVICES) and all(x.endswith(" 1.0") for x in up)
            agent = "\nwardwatch_agent_up{host=" in text and "\nwardwatch_cpu_usage_ratio{host=" in text
            return text if devices_up and agent else None

        text = eventually(metrics_show_everything, "devices and the agent up on /metrics", out, 60)
        for d in DEVICES:
            assert f'wardwatch_snmp_up{{device="{d}",' in text
            assert f'wardwatch_snmp_system_info{{device="{d}",' in text

        prom = Prometheus(f"http://127.0.0.1:{ports['prometheus']}", proc, data / "logs" / "prometheus.log")
        devices = prom.wait_for("wardwatch_snmp_up == 1", timeout=60)
        assert sorted(s["metric"]["device"] for s in devices) == sorted(DEVICES)
        assert prom.wait_for("wardwatch_agent_up == 1", timeout=30)
        assert prom.wait_for("wardwatch_filesystem_used_ratio", timeout=30)

        if "alerting.escalation_component" in COMPONENTS:
            # the demo's backup folder is empty: the local agent's file check opens an incident, and its page
            # reaches the pager with an acknowledge link to this demo's collector
            line = eventually(
                lambda: next(
                    (x for x in out.text().splitlines() if "[pager" in x and "demo-backup" in x), None
                ),
                "a page about the empty backup folder",
                out,
                60,
            )
            assert " INC-" in line and " P2 " in line and " by " in line
            log = (data / "logs" / "pages.log").read_text(encoding="utf-8")
            ack = next(x.split()[-1] for x in log.splitlines() if x.startswith("    acknowledge: "))
            assert ack.startswith(f"{collector}/links/")
            assert "<form" in get(ack)  # a confirmation page; only its POST would acknowledge

        secret = next(
            (environ.split("=", 1)[1] for pid in processes_mentioning(str(data)) for environ in _environ(pid)
             if environ.startswith("WARDWATCH_NOTIFY__LINK_SECRET=")),
            None,
        )  # fmt: skip
        assert secret and len(secret) >= 32
        shown = [out.text(), *(p.read_text(errors="replace") for p in data.rglob("*.log"))]
        shown += [p.read_text() for p in (data / "config").iterdir()]
        assert not any(secret in s for s in shown)

        proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends the demo
        assert proc.wait(timeout=60) == 0, out.text()[-4000:]
        assert "stopped." in out.text()
        assert processes_mentioning(str(data)) == {}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        out.close()
        for pid in processes_mentioning(str(data)):  # only if the demo failed to stop its own children
            os.kill(pid, signal.SIGKILL)


def _environ(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []
