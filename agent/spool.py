"""A bounded on-disk spool of reports no collector would take: one gzip JSON file per report.

File names are ``<spooled-at ns>-<seq>.json.gz``, so listing the folder sorted gives oldest first, across restarts.
Files are written to a dot-file and renamed into place, so a crash leaves no half-written report behind.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from agent.report import Report, to_json_bytes

log = logging.getLogger(__name__)
_SUFFIX = ".json.gz"


@dataclass(frozen=True, order=True)
class SpoolEntry:
    spooled_ns: int
    path: Path
    size_bytes: int


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int, max_age_seconds: float) -> None:
        self._dir = directory
        self._max_bytes = max_bytes
        self._max_age_seconds = max_age_seconds
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in directory.glob(".*.tmp"):  # a write interrupted by a crash
            stale.unlink(missing_ok=True)
        existing = self._scan()
        # New reports sort after those already here, even if the wall clock stepped back across a restart.
        self._last_ns = existing[-1].spooled_ns if existing else 0

    def put(self, report: Report, *, now: float | None = None) -> None:
        """Store ``report``, then drop the oldest reports while the spool is over its size limit."""
        now_ns = int((time.time() if now is None else now) * 1e9)
        self._last_ns = max(now_ns, self._last_ns + 1)  # strictly increasing within this process
        name = f"{self._last_ns:020d}-{report['seq']:010d}{_SUFFIX}"
        tmp = self._dir / f".{name}.tmp"
        tmp.write_bytes(gzip.compress(to_json_bytes(report), compresslevel=6))
        os.replace(tmp, self._dir / name)
        self._enforce_size()

    def pending(self, *, now: float | None = None) -> list[SpoolEntry]:
        """Spooled reports, oldest first; reports older than the age limit are deleted, not returned."""
        limit_ns = int(((time.time() if now is None else now) - self._max_age_seconds) * 1e9)
        entries = []
        for entry in self._scan():
            if entry.spooled_ns < limit_ns:
                log.warning("spool: dropping %s, older than %g s", entry.path.name, self._max_age_seconds)
                self.remove(entry)
            else:
                entries.append(entry)
        return entries

    def load(self, entry: SpoolEntry) -> Report | None:
        """The report in ``entry``; a corrupt file is logged, deleted and gives None.

        Only the framing is checked here (gzip, a JSON object with a ``seq`` and a ``timestamp``): the
        collector validates the rest, and refuses (so the sender drops) a report it finds wrong.
        """
        try:
            report = json.loads(gzip.decompress(entry.path.read_bytes()))
            if not (
                isinstance(report, dict)
                and isinstance(report.get("seq"), int)
                and isinstance(report.get("timestamp"), int | float)
            ):
                raise ValueError("not a report")
        except FileNotFoundError:
            return None
        except (OSError, EOFError, zlib.error, ValueError) as err:
            log.warning("spool: deleting corrupt file %s: %s", entry.path.name, type(err).__name__)
            self.remove(entry)
            return None
        return report

    def remove(self, entry: SpoolEntry) -> None:
        entry.path.unlink(missing_ok=True)

    def total_bytes(self) -> int:
        return sum(e.size_bytes for e in self._scan())

    def _scan(self) -> list[SpoolEntry]:
        entries = []
        with os.scandir(self._dir) as it:
            for d in it:
                if d.name.startswith(".") or not d.name.endswith(_SUFFIX):
                    continue
                stamp = d.name.split("-", 1)[0]
                try:
                    entries.append(SpoolEntry(int(stamp), Path(d.path), d.stat().st_size))
                except (ValueError, FileNotFoundError):
                    continue
        entries.sort()
        return entries

    def _enforce_size(self) -> None:
        entries = self._scan()
        total = sum(e.size_bytes for e in entries)
        dropped = 0
        for entry in entries:
            if total <= self._max_bytes:
                break
            self.remove(entry)
            total -= entry.size_bytes
            dropped += 1
        if dropped:
            log.warning("spool: over %d bytes, dropped the %d oldest report(s)", self._max_bytes, dropped)
