import gzip
import json
import logging
from pathlib import Path

import pytest

from agent.spool import Spool
from agent.wire import Report
from tests.agent.reports import make_model, make_report

NOW = 1_800_000_000.0


def _spool(path: Path, **kw) -> Spool:
    kw.setdefault("max_bytes", 10 << 20)
    kw.setdefault("max_age_seconds", 3600)
    return Spool(path, **kw)


def _seqs(spool: Spool, now: float = NOW) -> list[int]:
    return [spool.load(e)["seq"] for e in spool.pending(now=now)]


def test_returns_reports_oldest_first_and_survives_reopening(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for i, seq in enumerate((3, 1, 2)):  # order is by spooling time, not by seq
        spool.put(make_report(seq), now=NOW + i)
    reopened = _spool(tmp_path)
    assert _seqs(reopened, NOW + 10) == [3, 1, 2]
    assert reopened.load(reopened.pending(now=NOW + 10)[0]) == make_report(3)


def test_same_instant_keeps_insertion_order(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for seq in range(1, 6):
        spool.put(make_report(seq), now=NOW)
    assert _seqs(spool) == [1, 2, 3, 4, 5]


def test_files_are_gzip_json(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.put(make_report(7), now=NOW)
    (path,) = tmp_path.glob("*.json.gz")
    raw = gzip.decompress(path.read_bytes())
    assert json.loads(raw) == make_report(7)
    assert Report.model_validate_json(raw) == make_model(7)  # a valid wire report


def test_over_size_drops_oldest_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    probe = _spool(tmp_path / "probe")
    probe.put(make_report(1), now=NOW)
    one = probe.total_bytes()
    spool = _spool(tmp_path / "s", max_bytes=3 * one + one // 2)  # room for three
    with caplog.at_level(logging.WARNING):
        for seq in range(1, 7):
            spool.put(make_report(seq), now=NOW + seq)
    assert _seqs(spool, NOW + 10) == [4, 5, 6]
    assert spool.total_bytes() <= 3 * one + one // 2
    assert "dropped the 1 oldest" in caplog.text


def test_over_age_reports_are_deleted(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_age_seconds=100)
    spool.put(make_report(1), now=NOW)
    spool.put(make_report(2), now=NOW + 50)
    spool.put(make_report(3), now=NOW + 120)
    assert _seqs(spool, NOW + 130) == [2, 3]
    assert len(list(tmp_path.glob("*.json.gz"))) == 2  # the old one is gone from disk, too


def test_corrupt_file_is_logged_deleted_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = _spool(tmp_path)
    spool.put(make_report(1), now=NOW)
    spool.put(make_report(2), now=NOW + 1)
    spool.put(make_report(3), now=NOW + 2)
    entries = spool.pending(now=NOW + 5)
    entries[1].path.write_bytes(b"\x1f\x8b not really gzip")
    with caplog.at_level(logging.WARNING):
        loaded = [spool.load(e) for e in entries]
    assert [r["seq"] if r else None for r in loaded] == [1, None, 3]
    assert "corrupt" in caplog.text and entries[1].path.name in caplog.text
    assert not entries[1].path.exists()
    assert _seqs(spool, NOW + 5) == [1, 3]


def test_half_written_files_from_a_crash_are_ignored_and_cleaned(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.put(make_report(1), now=NOW)
    (tmp_path / ".00000000000000000001-0000000009.json.gz.tmp").write_bytes(b"half")
    reopened = _spool(tmp_path)
    assert _seqs(reopened) == [1]
    assert not list(tmp_path.glob(".*.tmp"))


def test_reports_spooled_after_a_restart_sort_last_even_if_the_clock_went_back(tmp_path: Path) -> None:
    _spool(tmp_path).put(make_report(1), now=NOW + 100)
    reopened = _spool(tmp_path)
    reopened.put(make_report(2), now=NOW)  # wall clock stepped back 100 s
    assert _seqs(reopened) == [1, 2]


@pytest.mark.parametrize("content", [b"[1, 2]", b'{"seq": "1", "timestamp": 1}', b'{"timestamp": 1}', b"{"])
def test_json_that_is_not_a_report_is_corrupt(tmp_path: Path, content: bytes) -> None:
    spool = _spool(tmp_path)
    spool.put(make_report(1), now=NOW)
    (entry,) = spool.pending(now=NOW)
    entry.path.write_bytes(gzip.compress(content))
    assert spool.load(entry) is None
    assert not entry.path.exists()
