"""The SNMP component: ``setup(app)`` loads profiles and the inventory (bad files fail start-up,
naming file and field), and adds a cleanup context that runs the poller, its scheduler and the trap
receiver, and stops them.

It also makes sure ``app[keys.EVENTS]`` (the event bus the alerting side subscribes to) exists.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from collector import keys
from collector.events import EventBus
from collector.snmp.client import SnmpClient
from collector.snmp.inventory import Inventory, load_inventory
from collector.snmp.poller import Poller, SnmpStatusCollector
from collector.snmp.profiles import Profile, load_profiles
from collector.snmp.traps import TrapCollector, TrapReceiver

log = logging.getLogger("wardwatch.snmp")

SNMP_POLLER = web.AppKey("snmp_poller", Poller)
SNMP_TRAPS = web.AppKey("snmp_traps", TrapReceiver)
SNMP_INVENTORY = web.AppKey("snmp_inventory", Inventory)
SNMP_PROFILES = web.AppKey("snmp_profiles", dict[str, Profile])


def setup(app: web.Application) -> None:
    if keys.EVENTS not in app:
        app[keys.EVENTS] = EventBus()
    settings = app[keys.SETTINGS].snmp
    if not settings.enabled:
        return
    profiles = load_profiles(settings.profile_dirs)
    for profile in profiles.values():
        profile.declare(app[keys.CATALOG])
    inventory = (
        load_inventory(settings.inventory_file, known_profiles=profiles)
        if settings.inventory_file is not None
        else Inventory()
    )
    app[SNMP_PROFILES] = profiles
    app[SNMP_INVENTORY] = inventory
    app.cleanup_ctx.append(snmp_context)


async def snmp_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS].snmp
    registry = app[keys.REGISTRY]
    client = SnmpClient()
    poller = Poller(
        client=client,
        state=app[keys.STATE],
        clock=app[keys.CLOCK],
        inventory=app[SNMP_INVENTORY],
        profiles=app[SNMP_PROFILES],
        settings=settings,
    )
    status_collector = SnmpStatusCollector(poller)
    registry.register(status_collector)
    app[SNMP_POLLER] = poller
    receiver: TrapReceiver | None = None
    trap_collector: TrapCollector | None = None
    try:
        if settings.traps_enabled:
            receiver = TrapReceiver(
                inventory=app[SNMP_INVENTORY],
                bus=app[keys.EVENTS],
                clock=app[keys.CLOCK],
                host=settings.trap_host,
                port=settings.trap_port,
                max_datagram_bytes=settings.trap_max_datagram_bytes,
                interfaces=lambda device, if_index: poller.status[device].interface(if_index),
                on_device_trap=poller.trigger,
            )
            await receiver.start()
            poller.auth_failure_at = receiver.last_auth_failure
            trap_collector = TrapCollector(receiver)
            registry.register(trap_collector)
            app[SNMP_TRAPS] = receiver
        poller.start()
        log.info("snmp: polling %d devices", len(poller.status))
        yield
    finally:
        await poller.stop()
        if receiver is not None:
            await receiver.stop()
        if trap_collector is not None:
            registry.unregister(trap_collector)
        registry.unregister(status_collector)
        client.close()
