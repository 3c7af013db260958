"""What a channel is asked to send: one ``Notification`` to one contact method of one person.

The outbox keeps a ``PageRequest`` (what to say, to whom, which contact methods in order); for each attempt the
worker turns it into a ``Notification`` for the current contact method, with fresh acknowledge/resolve links.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MessageKind = Literal["page", "progress", "test"]
Language = Literal["zh", "en"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactMethod(_Frozen):
    """One way to reach a person: ``kind`` names the channel, ``address`` is what that channel needs
    (a phone number, an email address, a WeCom user id, a DingTalk mobile, a webhook URL, a Feishu open id)."""

    kind: str
    address: str


class IncidentInfo(_Frozen):
    """The slice of an incident a message shows."""

    id: str | None = None  # None for a test page
    number: str
    title: str
    severity: str  # P1..P4
    category: str
    assets: tuple[str, ...] = ()
    site: str | None = None
    system: str | None = None
    since: datetime
    summary: str = ""
    plan_url: str | None = None
    status: str = "open"


class PageRequest(_Frozen):
    """An outbox item's payload: one message for one person, tried through ``contacts`` in order."""

    key: str  # the idempotency key of the page (the escalation engine's)
    kind: MessageKind
    person_id: str
    person_name: str
    contacts: tuple[ContactMethod, ...] = Field(min_length=1)
    incident: IncidentInfo
    reason: str = ""
    language: Language = "zh"
    contact_index: int = 0  # which contact method this outbox item is for


class Notification(_Frozen):
    """One message through one contact method, links included."""

    kind: MessageKind
    person_id: str
    person_name: str
    contact: ContactMethod
    incident: IncidentInfo
    reason: str = ""
    language: Language = "zh"
    ack_url: str | None = None
    resolve_url: str | None = None


def contacts_of(contacts: Sequence[object]) -> tuple[ContactMethod, ...]:
    """A roster person's contacts (``alerting.roster_config`` models) as contact methods, in order."""
    out = []
    for c in contacts:
        kind = str(getattr(c, "kind", ""))
        for field in ("phone", "address", "user_id", "mobile", "url", "open_id"):
            value = getattr(c, field, None)
            if isinstance(value, str):
                out.append(ContactMethod(kind=kind, address=value))
                break
        else:
            raise ValueError(f"contact method {kind!r} has no address field")
    return tuple(out)
