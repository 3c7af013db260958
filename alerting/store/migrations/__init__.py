"""Numbered schema migrations, one SQL file per engine: ``NNNN_name.<engine>.sql``.

Each store applies, at open and inside one transaction, every migration newer than the highest version in its
``schema_version`` table, and records it there. Migrations are append-only: never edit one that has shipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sqlite|postgres)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load(engine: str) -> list[Migration]:
    """The migrations for ``engine`` ("sqlite" or "postgres"), in order; versions must be 1, 2, 3, ..."""
    found: list[Migration] = []
    for entry in resources.files(__name__).iterdir():
        m = _NAME.match(entry.name)
        if m and m.group(3) == engine:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    expected = list(range(1, len(found) + 1))
    if [mig.version for mig in found] != expected:
        raise RuntimeError(
            f"{engine} migrations are not numbered 1..{len(found)}: {[m.version for m in found]}"
        )
    return found
