"""``wardwatch notify test PERSON [--roster FILE] [--config FILE]``: send a test page through every contact method
of a person, straight through the configured channels (no outbox), and say which worked. Exit 0 when all did,
1 when any failed, 2 on bad configuration or an unknown person."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiohttp

from alerting.clock import Clock, SystemClock
from alerting.notify.base import Notifier, NotifyError, redact_url
from alerting.notify.channels import build_notifiers
from alerting.notify.model import ContactMethod, IncidentInfo, Language, Notification, contacts_of
from alerting.notify.settings import NotifySettings
from alerting.roster_config import Person

EXIT_FAILED = 1
EXIT_CONFIG = 2


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    notify = subparsers.add_parser("notify", help="notification channels")
    sub = notify.add_subparsers(dest="notify_command", metavar="SUBCOMMAND")
    test = sub.add_parser("test", help="send a test page through every contact method of a person")
    test.add_argument("person", help="the person's id in the roster")
    test.add_argument(
        "--roster", type=Path, help="roster file or folder (default: the settings' rosters.path, ./rosters)"
    )
    test.add_argument(
        "--config", type=Path, help="collector YAML settings with notify.channels (env WARDWATCH_* wins)"
    )
    test.add_argument("--language", choices=["zh", "en"], help="default: the settings' notify.language")
    test.set_defaults(handler=cmd_test)


def test_notification(
    person: Person, contact: ContactMethod, *, clock: Clock, language: Language
) -> Notification:
    now = clock.now()
    return Notification(
        kind="test",
        person_id=person.id,
        person_name=person.name,
        contact=contact,
        incident=IncidentInfo(
            number="TEST-" + now.strftime("%Y%m%d-%H%M%S"),
            title="wardwatch 测试消息 / test message",
            severity="P4",
            category="other",
            since=now,
        ),
        language=language,
    )


def shown(contact: ContactMethod) -> str:
    if contact.kind == "webhook":
        return redact_url(contact.address, keep_path=False)
    return contact.address


async def send_test(
    person: Person, notifiers: dict[str, Notifier], *, clock: Clock, language: Language
) -> list[tuple[ContactMethod, NotifyError | None]]:
    """Every contact method of ``person`` in order, with None for a delivery or the error."""
    results: list[tuple[ContactMethod, NotifyError | None]] = []
    for contact in contacts_of(person.contacts):
        notifier = notifiers.get(contact.kind)
        if notifier is None:
            results.append(
                (contact, NotifyError(f"no {contact.kind} channel is configured", retryable=False))
            )
            continue
        try:
            await notifier.send(test_notification(person, contact, clock=clock, language=language))
        except NotifyError as err:
            results.append((contact, err))
        else:
            results.append((contact, None))
    return results


async def _run(
    person: Person, settings: NotifySettings, language: Language
) -> list[tuple[ContactMethod, NotifyError | None]]:
    clock = SystemClock()
    async with aiohttp.ClientSession() as session:
        notifiers = build_notifiers(settings.channels, session=session, clock=clock)
        return await send_test(person, notifiers, clock=clock, language=language)


def cmd_test(args: argparse.Namespace) -> int:
    from agent.settings_file import ConfigError as SettingsError
    from alerting.rosters import load_roster
    from alerting.yaml_lines import ConfigError
    from collector.settings import CollectorSettings

    try:
        collector_settings = CollectorSettings.load(args.config)
    except SettingsError as err:
        print(f"wardwatch: bad configuration:\n{err}", file=sys.stderr)
        return EXIT_CONFIG
    settings = collector_settings.notify
    try:
        roster = load_roster(args.roster or collector_settings.rosters.path)
    except ConfigError as err:
        for p in err.problems:
            print(p, file=sys.stderr)
        return EXIT_CONFIG
    person = roster.people.get(args.person)
    if person is None:
        print(f"no person {args.person!r} in {roster.source}", file=sys.stderr)
        return EXIT_CONFIG
    language: Language = args.language or settings.language
    results = asyncio.run(_run(person, settings, language))
    print(f"test page to {person.name} ({person.id}):")
    for i, (contact, err) in enumerate(results, 1):
        outcome = "OK" if err is None else f"FAILED ({'retryable' if err.retryable else 'permanent'}): {err}"
        print(f"  {i}. {contact.kind:<8} {shown(contact)}  {outcome}")
    return 0 if all(err is None for _, err in results) else EXIT_FAILED
