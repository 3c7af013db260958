"""``wardwatch incidents ...`` and ``wardwatch maintenance ...`` on a real SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerting.model import Alert, Category, Severity, Source, Status, TimelineKind, fingerprint_for
from alerting.store import open_store
from collector.cli import main


async def seed(path: Path) -> str:
    store = await open_store(path)
    try:
        now = datetime.now(UTC)
        labels = {"host": "his-db-01", "mountpoint": "/data"}
        inc, _ = await store.open_or_touch(
            Alert(
                fingerprint=fingerprint_for("FilesystemAlmostFull", labels),
                rule="FilesystemAlmostFull",
                title="his-db-01: /data is 95% full",
                severity=Severity.MAJOR,
                category=Category.SYSTEM_FAILURE,
                source=Source.RULE,
                starts_at=now,
                labels=labels,
                assets=("his-db-01",),
                value=0.95,
            ),
            now,
        )
        return inc.number
    finally:
        await store.close()


async def reload(path: Path, number: str):
    store = await open_store(path)
    try:
        inc = await store.get(number)
        return inc, await store.timeline(inc.id), await store.list_maintenance()
    finally:
        await store.close()


def run(*argv: str) -> int:
    return main(list(argv))


async def test_list_show_ack_comment_resolve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "w.db")
    number = await seed(Path(db))
    assert await _in_thread(run, "incidents", "list", "--store", db) == 0
    out = capsys.readouterr().out
    assert number in out and "P2 major" in out and "his-db-01: /data is 95% full" in out
    assert await _in_thread(run, "incidents", "ack", number, "--by", "wang.fang", "--store", db) == 0
    assert (
        await _in_thread(
            run, "incidents", "comment", number, "replacing disk", "--by", "wang.fang", "--store", db
        )
        == 0
    )
    assert await _in_thread(run, "incidents", "show", number, "--json", "--store", db) == 0
    shown = json.loads(capsys.readouterr().out.split("comment added\n", 1)[1])
    assert shown["status"] == "acknowledged" and shown["acknowledged_by"] == "wang.fang"
    assert [e["kind"] for e in shown["timeline"]] == ["fired", "acknowledged", "comment"]
    assert await _in_thread(run, "incidents", "resolve", number, "--by", "wang.fang", "--store", db) == 0
    inc, timeline, _ = await reload(Path(db), number)
    assert inc.status is Status.RESOLVED and inc.resolved_by == "wang.fang"
    assert timeline[-1].kind is TimelineKind.RESOLVED
    capsys.readouterr()
    assert await _in_thread(run, "incidents", "list", "--store", db) == 0  # unresolved only
    assert number not in capsys.readouterr().out
    assert await _in_thread(run, "incidents", "list", "--status", "all", "--json", "--store", db) == 0
    assert json.loads(capsys.readouterr().out)["number"] == number


async def test_unknown_incident_and_acking_a_resolved_one_fail_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "w.db")
    number = await seed(Path(db))
    assert await _in_thread(run, "incidents", "show", "INC-1999-000001", "--store", db) == 1
    assert "INC-1999-000001" in capsys.readouterr().err
    assert await _in_thread(run, "incidents", "resolve", number, "--store", db) == 0
    assert await _in_thread(run, "incidents", "ack", number, "--store", db) == 1
    assert "cannot acknowledge" in capsys.readouterr().err


async def test_maintenance_add_list_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "w.db")
    number = await seed(Path(db))
    assert (
        await _in_thread(
            run,
            "maintenance",
            "add",
            "--match",
            "host=his-db-01",
            "--match",
            "system=~HIS|PACS",
            "--duration",
            "2h",
            "--reason",
            "disk replacement",
            "--by",
            "zhang.wei",
            "--store",
            db,
        )
        == 0
    )
    window_id = capsys.readouterr().out.split()[0]
    assert await _in_thread(run, "maintenance", "list", "--active", "--store", db) == 0
    out = capsys.readouterr().out
    assert (
        window_id in out
        and "{host=his-db-01,system=~HIS|PACS}" in out
        and "zhang.wei: disk replacement" in out
    )
    assert await _in_thread(run, "maintenance", "end", window_id, "--by", "zhang.wei", "--store", db) == 0
    assert "(ended " in capsys.readouterr().out
    assert await _in_thread(run, "maintenance", "list", "--active", "--store", db) == 0
    assert window_id not in capsys.readouterr().out
    _, _, windows = await reload(Path(db), number)
    (w,) = windows
    assert w.ended_by == "zhang.wei" and w.reason == "disk replacement"


def test_bad_matcher_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run("maintenance", "add", "--match", "host", "--duration", "1h", "--reason", "x", "--store", "x.db")
    assert info.value.code == 2
    assert "bad matcher 'host'" in capsys.readouterr().err


async def _in_thread(fn, *args):
    """The CLI runs its own event loop (asyncio.run): call it from a thread, as a shell would."""
    import asyncio

    return await asyncio.to_thread(fn, *args)


def test_a_mistyped_store_path_is_an_error_not_a_new_empty_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert run("incidents", "list", "--store", str(missing)) == 1
    assert f"no incident store at {missing}" in capsys.readouterr().err
    assert not missing.exists()
