"""Events: things that happened (an SNMP trap, later other sources), handed to the alerting side
through one interface: ``EventBus.subscribe(callback)`` / ``EventBus.publish(event)``.

Subscribers are called synchronously, in subscription order; they must be cheap (queue work, do not
await) and a subscriber that raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger("wardwatch.events")


class Severity(StrEnum):
    """A hint from the source; rules decide what actually pages."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    kind: str  # e.g. "snmp.linkDown", "snmp.coldStart", "snmp.unknown"
    source_kind: str  # "snmp", "agent"
    source_name: str  # device or host name; "" when the sender is not in the inventory
    labels: Mapping[str, str] = field(default_factory=dict)  # e.g. if_index, if_name, if_alias, address
    varbinds: tuple[tuple[str, str], ...] = ()  # (numeric OID, value as text), as received
    received_at: float = 0.0  # collector clock, Unix seconds
    severity: Severity = Severity.INFO


EventCallback = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[EventCallback] = []

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not stop the others (task boundary)
                log.exception("event subscriber %r failed on %s", callback, event.kind)
