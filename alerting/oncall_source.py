"""The roster and the escalation policies as the running collector sees them, reloaded when their files change.

A roster changes every week (swaps, holidays, a new engineer); restarting the collector for that would be wrong.
``OnCallSource.maybe_reload()`` (called by the escalation loop every tick; one ``stat`` per file) reloads the
pair when either file's modification time or size changed. A bad edit is logged with file, line and field and
the last good pair stays in use; ``problems`` says what was rejected until a good edit replaces it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alerting.escalation_config import EscalationConfig, load_escalation_config
from alerting.roster_config import roster_file
from alerting.rosters import Roster, load_roster
from alerting.yaml_lines import ConfigError

log = logging.getLogger("wardwatch.oncall")


@dataclass(frozen=True)
class OnCall:
    roster: Roster
    policies: EscalationConfig | None
    """None when there is no escalation file: incidents are recorded and nobody is paged (said loudly)."""
    roster_file: Path
    escalation_file: Path


def _fingerprint(*paths: Path) -> tuple[tuple[int, int] | None, ...]:
    out: list[tuple[int, int] | None] = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_oncall(path: Path, escalation_file: Path | None = None) -> OnCall:
    """Load the roster at ``path`` (a file or a folder with one roster) and its escalation policies
    (``escalation_file``, default ``escalation.yaml`` beside the roster). Raises ``ConfigError``."""
    rfile = roster_file(path)
    efile = escalation_file or rfile.parent / "escalation.yaml"
    roster = load_roster(rfile)
    policies = load_escalation_config(efile, roster.config) if efile.exists() else None
    return OnCall(roster, policies, rfile, efile)


class OnCallSource:
    def __init__(self, path: Path, escalation_file: Path | None = None) -> None:
        """Loads at once: a bad roster or policy file fails start-up (``ConfigError``)."""
        self.path = path
        self.escalation_file = escalation_file
        self.current = load_oncall(path, escalation_file)
        self._seen = _fingerprint(self.current.roster_file, self.current.escalation_file)
        self.problems: list[str] = []
        if self.current.policies is None:
            log.error(
                "no escalation policies at %s: incidents are recorded but nobody is paged",
                self.current.escalation_file,
            )

    def maybe_reload(self) -> bool:
        """Reload if a file changed; True when a new pair is in use."""
        cur = self.current
        seen = _fingerprint(cur.roster_file, cur.escalation_file)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            new = load_oncall(self.path, self.escalation_file)
        except ConfigError as e:
            self.problems = [str(p) for p in e.problems]
            log.error("roster or escalation policies rejected, the last good ones stay in use:\n%s", e)
            return False
        except OSError as e:  # a file half-way through being replaced: next tick
            log.warning(
                "could not read the roster or escalation policies (%s); keeping the last good ones", e
            )
            return False
        self.problems = []
        self.current = new
        log.info("roster %s and escalation policies %s reloaded", new.roster_file, new.escalation_file)
        return True
