"""wardwatch collector: one aiohttp process that ingests agent reports, polls SNMP, receives traps,
keeps the state, exposes /metrics and wires the alerting side in."""
