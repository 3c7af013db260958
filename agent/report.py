"""Reports as the running agent builds them: plain JSON-ready dicts, in the shape ``agent/wire.py`` defines.

The pydantic models in ``agent/wire.py`` are the format's definition; the collector validates every report
with them. The agent itself does not import pydantic while it runs (pydantic and its schema machinery would
be a third of its resident memory): probes build dicts with the wire's field names, leave out fields that
have no value (as ``exclude_none``), and skip an item whose machine-given name the wire would refuse (see
:func:`fits`), so that one odd mountpoint cannot get a whole report refused. Tests validate what the probes
and the report builder produce against the wire models.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_VERSION = 1  # agent/wire.py takes it from here

MAX_NAME = 255  # wire.Name and wire.LabelValue: at most 255 characters

Report = dict[str, Any]  # one report: see agent/wire.py's Report for the fields


def fits(value: str, *, empty_ok: bool = False) -> bool:
    """Whether ``value`` is a valid wire ``Name`` (1..255 characters), or ``LabelValue`` with ``empty_ok``."""
    return (empty_ok or bool(value)) and len(value) <= MAX_NAME


def without_none(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: reports leave out what is unknown rather than send nulls."""
    return {k: v for k, v in fields.items() if v is not None}


def to_json_bytes(report: Report) -> bytes:
    """Compact JSON; NaN and infinities are refused (they are not JSON), never sent."""
    return json.dumps(report, separators=(",", ":"), allow_nan=False).encode()
