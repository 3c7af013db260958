"""The committed dashboard JSON is exactly what the code builds, and the CLI writes it."""

from __future__ import annotations

from pathlib import Path

from collector.cli import main
from dashboards.build import COMMITTED_DIR, build_all


def test_committed_json_matches_a_fresh_build():
    built = build_all()
    committed = {p.name: p.read_text(encoding="utf-8") for p in COMMITTED_DIR.glob("*.json")}
    assert sorted(committed) == sorted(built), "run: wardwatch dashboards build"
    stale = [name for name, text in built.items() if committed[name] != text]
    assert stale == [], f"{stale} differ from the code; run: wardwatch dashboards build"


def test_build_is_deterministic():
    assert build_all() == build_all()


def test_cli_writes_one_file_per_dashboard(tmp_path: Path, capsys):
    out = tmp_path / "dashboards"
    assert main(["dashboards", "build", "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(build_all())
    assert capsys.readouterr().out.split() == [str(out / name) for name in build_all()]
    for name, text in build_all().items():
        assert (out / name).read_text(encoding="utf-8") == text
