"""Kernel notifications that make the agent report at once instead of at its next cycle.

A report every interval samples the host; some changes the kernel announces the moment they happen, and for
those waiting up to a whole interval is a choice, not a limit:

- **a watched port's listener is gone** (the service closed it, crashed, or was stopped): Linux's sock_diag
  *destroy* multicast groups, the notifications ``ss --events`` shows. A classic BPF filter on the netlink
  socket passes only listeners (no peer) on the watched local port numbers, so the other sockets of a busy
  server never wake the agent.
- **every process a process check counted has exited**: one pidfd (Linux 5.3+) per counted process, for whole
  checks within :data:`MAX_WATCHED_PROCESSES`, smallest first. Workers that come and go under a master (php-fpm,
  postgres backends) wake nothing: only a check left with none of the processes it counted does.

A notification only *asks* for a prompt cycle (:class:`Prompt`): that cycle probes as usual, so a stray
notification (another listener on the same port number, a restart) costs one report and decides nothing, and
prompt cycles are rationed: a burst of :data:`PROMPT_BURST`, then one per interval (a service in a restart loop
at most doubles the agent's reports). Where the kernel offers neither (not Linux, a
seccomp profile, an old kernel) the agent says so once in its log and keeps to its interval.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping

import psutil

from agent.config import PortCheckConfig

log = logging.getLogger(__name__)

PROMPT_BURST = (
    10  # prompt cycles in a row; then one per interval (at least a second); past it the interval reports
)
MAX_WATCHED_PROCESSES = 256  # pidfds held at most; past it the extra processes are left to the interval

# <linux/netlink.h>, <linux/sock_diag.h>, <linux/filter.h>
NETLINK_SOCK_DIAG = 4
SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY = 1, 3
SO_ATTACH_FILTER = 26
NLMSG_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid
DIAG_PORTS_OFFSET = NLMSG_HEADER.size + 4  # inet_diag_msg: family, state, timer, retrans, then sport, dport
DIAG_DST_OFFSET = DIAG_PORTS_OFFSET + 4 + 16  # idiag_dst: 16 bytes after sport, dport and idiag_src
BPF_LD_W_ABS, BPF_LD_H_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x28, 0x15, 0x06
BPF_MAX_PORTS = 200  # a jump offset is one byte: more ports than this and every destroy event is read


class Prompt:
    """Asks the collection loop for a prompt cycle: a token bucket of :data:`PROMPT_BURST`, refilled one token
    per ``refill_seconds`` (the agent's interval, at least a second)."""

    def __init__(self, refill_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._event = asyncio.Event()
        self._clock = clock
        self._refill = max(1.0, refill_seconds)
        self._tokens = float(PROMPT_BURST)
        self._at = clock()
        self._refused = 0

    def request(self, why: str) -> bool:
        """Ask for a prompt cycle; False when the bucket is empty (the next regular cycle reports it)."""
        now = self._clock()
        self._tokens = min(float(PROMPT_BURST), self._tokens + max(0.0, now - self._at) / self._refill)
        self._at = now
        if self._event.is_set():
            return True  # one is already asked for: this change goes with it
        if self._tokens < 1.0:
            self._refused += 1
            if self._refused == 1:
                log.warning(
                    "%s: not reporting at once, too many prompt reports lately (the interval goes on)", why
                )
            return False
        self._tokens -= 1.0
        self._refused = 0
        log.info("%s: reporting at once", why)
        self._event.set()
        return True

    async def wait(self, stop: asyncio.Event, timeout: float) -> bool:
        """Until a prompt cycle is asked for (True), ``stop`` is set or ``timeout`` passes (False). With no
        time left the regular cycle is due: it goes first and covers what a pending prompt asked for, so prompt
        cycles can never hold the regular ones back."""
        if timeout <= 0:
            self._event.clear()
            return False
        if not self._event.is_set():
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._event.wait())}
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        if stop.is_set() or not self._event.is_set():
            return False
        self._event.clear()
        return True


def local_port_numbers(checks: Iterable[PortCheckConfig]) -> set[int]:
    """The ports of checks that target this host (loopback, the unspecified address, one of its addresses,
    ``localhost`` or its own name): only their listeners can be seen going away."""
    own = {socket.gethostname().lower(), "localhost", "localhost.localdomain"}
    with contextlib.suppress(OSError):
        own |= {a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs}
    ports = set()
    for check in checks:
        host = check.host.lower()
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            local = host in own
        else:
            local = ip.is_loopback or ip.is_unspecified or str(ip) in own
        if local:
            ports.add(check.port)
    return ports


def listener_filter(ports: Iterable[int]) -> bytes:
    """A classic BPF program: pass a destroy notification when its local port is one of ``ports`` and it has no
    peer (port 0 and an all-zero address: a listener; a connection closed abortively keeps its peer's address);
    drop the rest. ``struct sock_filter`` entries, native byte order."""
    ports = sorted(set(ports))
    n = len(ports)
    prog = [(BPF_LD_H_ABS, 0, 0, DIAG_PORTS_OFFSET)]  # A = sport
    prog += [(BPF_JEQ_K, n - i, 0, port) for i, port in enumerate(ports)]  # to the peer checks
    prog.append((BPF_RET_K, 0, 0, 0))  # no watched port: drop
    # the peer checks: dport, then the four words of idiag_dst, each 0 or to the final drop
    peer = [(BPF_LD_H_ABS, DIAG_PORTS_OFFSET + 2)] + [
        (BPF_LD_W_ABS, DIAG_DST_OFFSET + 4 * k) for k in range(4)
    ]
    for k, (load, offset) in enumerate(peer):
        prog += [(load, 0, 0, offset), (BPF_JEQ_K, 0, 2 * (len(peer) - k) - 1, 0)]
    prog += [(BPF_RET_K, 0, 0, 0xFFFF), (BPF_RET_K, 0, 0, 0)]  # a listener: pass; a peer: drop
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


class ListenerWatch:
    """Calls ``on_gone(port)`` when a listening TCP socket on a watched port number is destroyed."""

    def __init__(self, ports: Iterable[int], on_gone: Callable[[int], object]) -> None:
        self._ports = frozenset(ports)
        self._on_gone = on_gone
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        if not self._ports:
            return False
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
        except (OSError, AttributeError) as err:  # AttributeError: no AF_NETLINK (not Linux)
            log.info("port checks go by the interval: no socket notifications here (%s)", err)
            return False
        try:
            if len(self._ports) <= BPF_MAX_PORTS:
                _attach_filter(sock, listener_filter(self._ports))
            groups = (1 << (SKNLGRP_INET_TCP_DESTROY - 1)) | (1 << (SKNLGRP_INET6_TCP_DESTROY - 1))
            sock.bind((0, groups))
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._read)
        except OSError as err:
            sock.close()
            log.info("port checks go by the interval: socket notifications refused (%s)", err)
            return False
        self._sock, self._loop = sock, loop
        log.debug("watching the listeners of ports %s", sorted(self._ports))
        return True

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sock is not None:
            loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _read(self) -> None:
        gone: set[int] = set()
        for _ in range(64):  # bounded: what is left waits for the next wake-up
            if self._sock is None:
                break
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.ENOBUFS:  # notifications were lost: one of them may have been ours
                    gone |= self._ports
                    continue
                log.warning(
                    "port checks go by the interval from now: reading socket notifications failed (%s)", err
                )
                if self._loop is not None:
                    self.close(self._loop)
                break
            gone |= self._ports_in(data)
        for port in sorted(gone):
            self._on_gone(port)

    def _ports_in(self, data: bytes) -> set[int]:
        found, offset = set(), 0
        while offset + DIAG_DST_OFFSET + 16 <= len(data):
            length = NLMSG_HEADER.unpack_from(data, offset)[0]
            sport, dport = struct.unpack_from("!HH", data, offset + DIAG_PORTS_OFFSET)
            dst = data[offset + DIAG_DST_OFFSET : offset + DIAG_DST_OFFSET + 16]
            if sport in self._ports and dport == 0 and not any(dst):
                found.add(sport)
            if length < NLMSG_HEADER.size:
                break
            offset += (length + 3) & ~3
        return found


def _attach_filter(sock: socket.socket, program: bytes) -> None:
    """SO_ATTACH_FILTER with a ``struct sock_fprog`` (length, pointer) built with ``struct``'s native layout;
    ``array`` gives the program's address without importing ctypes (the kernel copies the program)."""
    buffer = array.array("B", program)
    address, _ = buffer.buffer_info()
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("@HP", len(program) // 8, address))


class ProcessWatch:
    """Calls ``on_gone(check)`` when every process a process check counted has exited (pidfds)."""

    def __init__(self, on_gone: Callable[[str], object]) -> None:
        self._on_gone = on_gone
        self._fds: dict[int, int] = {}  # pid -> pidfd
        self._checks: dict[str, set[int]] = {}  # check -> the pids it counted, still running
        self._loop: asyncio.AbstractEventLoop | None = None
        self._available = hasattr(os, "pidfd_open")
        if not self._available:
            log.info("process checks go by the interval: no pidfd here")

    def track(self, loop: asyncio.AbstractEventLoop, pids_by_check: Mapping[str, Iterable[int]]) -> None:
        """After a cycle: watch the processes each check counted in it."""
        if not self._available:
            return
        self._loop = loop
        # The pidfd budget goes to whole checks, smallest first: a check with a process left unwatched could
        # never be seen empty, so it is left to the interval altogether.
        self._checks, wanted = {}, set()
        for name, pids in sorted(
            ((n, set(p)) for n, p in pids_by_check.items()), key=lambda item: len(item[1])
        ):
            if len(wanted | pids) > MAX_WATCHED_PROCESSES:
                continue
            self._checks[name] = pids
            wanted |= pids
        for pid in set(self._fds) - wanted:
            self._forget(pid)
        for pid in sorted(wanted - set(self._fds)):
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:  # gone since the scan: the check is told now if it was its last one
                self._exited(pid)
                continue
            except OSError as err:
                self._available = False
                log.info("process checks go by the interval: pidfd_open failed (%s)", err)
                self.close()
                return
            self._fds[pid] = fd
            loop.add_reader(fd, self._exited, pid)

    def close(self) -> None:
        for pid in list(self._fds):
            self._forget(pid)

    def _forget(self, pid: int) -> None:
        fd = self._fds.pop(pid, None)
        if fd is not None:
            if self._loop is not None:
                self._loop.remove_reader(fd)
            os.close(fd)

    def _exited(self, pid: int) -> None:
        self._forget(pid)
        for name, pids in self._checks.items():
            if pid in pids:
                pids.discard(pid)
                if not pids:
                    self._on_gone(name)
