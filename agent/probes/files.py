"""File checks for backup freshness: newest file's mtime and size, and the size of the one before."""

from __future__ import annotations

import glob
import os
from typing import Any

from agent.config import FileCheckConfig
from agent.probes.blocking import BlockingCalls, StillRunning
from agent.report import without_none

FileCheck = dict[str, Any]  # wire.FileCheck


def _result(check: FileCheckConfig, files: int = 0, **values: Any) -> FileCheck:
    return without_none(name=check.name, pattern=check.glob, files=files, **values)


def _scan(check: FileCheckConfig) -> FileCheck:
    found: list[tuple[float, int]] = []
    for path in glob.iglob(check.glob):
        try:
            st = os.stat(path)
        except OSError:
            continue  # removed between listing and stat (backup rotation)
        found.append((st.st_mtime, st.st_size))
    found.sort(reverse=True)
    if not found:
        return _result(check)
    return _result(
        check,
        len(found),
        newest_mtime_seconds=max(0.0, found[0][0]),  # a file dated before 1970 is simply very old
        newest_size_bytes=found[0][1],
        previous_size_bytes=found[1][1] if len(found) > 1 else None,
    )


async def check_files(
    check: FileCheckConfig, *, timeout_seconds: float, calls: BlockingCalls | None = None
) -> FileCheck:
    """The glob runs in a thread: a big backup folder or a slow NAS must not stall the loop."""
    calls = calls or BlockingCalls()
    try:
        return await calls.run(f"files:{check.name}", timeout_seconds, _scan, check)
    except StillRunning:
        return _result(check, error="the previous scan has not finished yet")
    except TimeoutError:
        return _result(check, error=f"timed out after {timeout_seconds:g} s")
    except OSError as err:
        return _result(check, error=err.strerror or str(err))
