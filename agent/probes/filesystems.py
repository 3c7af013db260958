"""Space and inodes per mountpoint, pseudo filesystems skipped, bind mounts counted once."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import psutil

from agent.probes.blocking import BlockingCalls, StillRunning
from agent.report import fits, without_none

log = logging.getLogger(__name__)

PSEUDO_FSTYPES = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
        "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay", "proc", "pstore", "ramfs",
        "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tmpfs", "tracefs", "fuse.lxcfs", "fuse.portal",
        "fuse.gvfsd-fuse", "nfsd", "selinuxfs", "iso9660", "aufs",
    }
)  # fmt: skip


def _usable(part: psutil._common.sdiskpart) -> bool:
    if part.fstype in PSEUDO_FSTYPES or not part.fstype:
        return False
    if part.mountpoint.startswith(("/proc/", "/sys/", "/dev/", "/run/credentials/")):
        return False
    if not (fits(part.mountpoint) and fits(part.device, empty_ok=True) and fits(part.fstype)):
        log.debug("filesystem %.80s... skipped: a name longer than the report allows", part.mountpoint)
        return False
    return True


def _measure(mountpoint: str, device: str, fstype: str) -> tuple[tuple[int, int], dict[str, Any]]:
    st = os.statvfs(mountpoint)
    size = st.f_blocks * st.f_frsize
    free_to_users = st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    inodes_total = st.f_files or None  # 0 on filesystems without a fixed inode table (btrfs, vfat)
    sample = without_none(
        mountpoint=mountpoint,
        device=device,
        fstype=fstype,
        size_bytes=size,
        free_bytes=max(0, free_to_users),
        used_bytes=max(0, used),
        inodes_total=inodes_total,
        inodes_free=st.f_ffree if inodes_total else None,
    )
    # A bind mount has the same device id and the same counts as its source.
    return (os.stat(mountpoint).st_dev, st.f_blocks), sample


async def sample_filesystems(
    timeout_seconds: float, calls: BlockingCalls | None = None
) -> list[dict[str, Any]]:
    """``wire.FilesystemSample`` per mountpoint.

    statvfs runs in a thread: a hung network mount costs one thread, not the cycle.
    """
    calls = calls or BlockingCalls()
    parts = [p for p in psutil.disk_partitions(all=False) if _usable(p)]
    results = await asyncio.gather(
        *(
            calls.run(f"statvfs:{p.mountpoint}", timeout_seconds, _measure, p.mountpoint, p.device, p.fstype)
            for p in parts
        ),
        return_exceptions=True,
    )
    seen: set[tuple[int, int]] = set()
    samples = []
    for part, result in zip(parts, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, StillRunning):
                log.debug("filesystem %s skipped: %s", part.mountpoint, result)
            elif isinstance(result, TimeoutError):
                log.warning("filesystem %s skipped: statvfs took over %g s", part.mountpoint, timeout_seconds)
            else:
                log.warning("filesystem %s skipped: %s: %s", part.mountpoint, type(result).__name__, result)
            continue
        key, sample = result
        if key in seen:
            continue
        seen.add(key)
        samples.append(sample)
    return samples
