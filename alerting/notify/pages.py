"""From the escalation engine's decisions to outbox items: ``Page`` and ``NotifyStakeholders`` actions become
``PageRequest``s, written to the store before anything is sent (``enqueue``).

The outbox key is the engine's idempotency key plus the contact method's index (``<key>#c0``), so planning the
same page twice (a crash before the plan was saved) enqueues it once, and a failover is its own item.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from alerting.escalation import NotifyStakeholders, Page
from alerting.model import Incident, OutboxItem
from alerting.notify.model import ContactMethod, IncidentInfo, Language, MessageKind, PageRequest, contacts_of
from alerting.roster_config import Person
from alerting.store import IncidentStore


def outbox_key(page_key: str, contact_index: int) -> str:
    return f"{page_key}#c{contact_index}"


def target(req: PageRequest) -> str:
    """What the timeline shows as the target: the person and the kind of contact, never the address."""
    return f"{req.person_id}/{req.contacts[req.contact_index].kind}"


def incident_info(incident: Incident) -> IncidentInfo:
    return IncidentInfo(
        id=incident.id,
        number=incident.number,
        title=incident.title,
        severity=incident.severity.priority,
        category=incident.category.value,
        assets=incident.assets,
        site=incident.labels.get("site"),
        system=incident.labels.get("system"),
        since=incident.opened_at,
        summary=incident.summary,
        plan_url=incident.plan_url,
        status=incident.status.value,
    )


def request_for(
    person: Person, key: str, kind: MessageKind, info: IncidentInfo, *, reason: str, language: Language
) -> PageRequest:
    return PageRequest(
        key=key,
        kind=kind,
        person_id=person.id,
        person_name=person.name,
        contacts=contacts_of(person.contacts),
        incident=info,
        reason=reason,
        language=language,
    )


def requests_from_actions(
    actions: Iterable[object], incidents: dict[str, Incident], *, language: Language = "zh"
) -> list[PageRequest]:
    """Page requests for the engine's ``Page`` and ``NotifyStakeholders`` actions (others are ignored)."""
    out: list[PageRequest] = []
    for a in actions:
        if isinstance(a, Page):
            info = incident_info(incidents[a.incident_id])
            out.append(
                request_for(a.person, a.idempotency_key, "page", info, reason=a.reason, language=language)
            )
        elif isinstance(a, NotifyStakeholders):
            info = incident_info(incidents[a.incident_id])
            for p in a.people:
                key = f"{a.idempotency_key}/{p.id}"
                out.append(request_for(p, key, "progress", info, reason=a.event, language=language))
    return out


async def enqueue(
    store: IncidentStore, requests: Sequence[PageRequest], *, now: datetime
) -> list[tuple[OutboxItem, bool]]:
    """Write each request's first contact method to the outbox (idempotent on the key)."""
    results = []
    for req in requests:
        first = req.model_copy(update={"contact_index": 0})
        results.append(await enqueue_contact(store, first, now=now))
    return results


async def enqueue_contact(
    store: IncidentStore, req: PageRequest, *, now: datetime, due_at: datetime | None = None
) -> tuple[OutboxItem, bool]:
    contact: ContactMethod = req.contacts[req.contact_index]
    return await store.enqueue_notification(
        outbox_key(req.key, req.contact_index),
        channel=contact.kind,
        target=target(req),
        payload=req.model_dump(mode="json"),
        due_at=due_at or now,
        now=now,
        incident_id=req.incident.id,
    )
