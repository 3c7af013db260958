"""The store's errors. Callers decide on the leaf types; everything else is a ``StoreError``."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the incident store raises (third-party errors are translated to it)."""


class NotFound(StoreError):
    pass


class IncidentNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no incident {ref!r}")
        self.ref = ref


class MaintenanceWindowNotFound(NotFound):
    def __init__(self, window_id: str) -> None:
        super().__init__(f"no maintenance window {window_id!r}")
        self.window_id = window_id


class OutboxItemNotFound(NotFound):
    def __init__(self, item_id: int) -> None:
        super().__init__(f"no outbox item {item_id}")
        self.item_id = item_id


class VersionConflict(StoreError):
    """Somebody else changed the incident since it was read: reload, decide again."""

    def __init__(self, incident_id: str, expected: int, actual: int) -> None:
        super().__init__(f"incident {incident_id}: expected version {expected}, found {actual}")
        self.incident_id = incident_id
        self.expected = expected
        self.actual = actual


class InvalidTransition(StoreError):
    """The action does not apply to the incident's state (e.g. acknowledging a resolved incident)."""


class ClaimLost(StoreError):
    """The outbox item is no longer claimed by this worker (its lease ran out and another took it)."""
