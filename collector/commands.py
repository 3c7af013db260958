"""``wardwatch collector run``, ``wardwatch agents token``, ``wardwatch demo``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from agent.settings_file import ConfigError
from collector.app import create_app
from collector.settings import CollectorSettings, HttpSettings, hash_token

log = logging.getLogger("wardwatch.collector")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    col = sub.add_parser("collector", help="run the collector")
    col_sub = col.add_subparsers(dest="collector_command", metavar="SUBCOMMAND")
    run = col_sub.add_parser("run", help="run the collector in the foreground")
    run.add_argument("--config", type=Path, help="collector YAML settings (env WARDWATCH_* wins)")
    run.set_defaults(handler=cmd_collector_run)
    check = col_sub.add_parser("check-config", help="validate the collector settings and exit")
    check.add_argument("--config", type=Path)
    check.set_defaults(handler=cmd_collector_check)

    agents = sub.add_parser("agents", help="agent credentials")
    agents_sub = agents.add_subparsers(dest="agents_command", metavar="SUBCOMMAND")
    token = agents_sub.add_parser("token", help="make a new agent token and print it with its hash")
    token.add_argument("host", help="the agent's host name, as it reports it")
    token.set_defaults(handler=cmd_agents_token)

    demo = sub.add_parser("demo", help="start the demo: collector, local agent, simulated devices (make run)")
    demo.add_argument("--dir", type=Path, default=Path("deploy/demo"), help="demo configuration folder")
    demo.add_argument("--data", type=Path, default=Path("var/demo"), help="data folder")
    demo.add_argument("--no-prometheus", action="store_true", help="do not start a local Prometheus")
    demo.set_defaults(handler=cmd_demo)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _load(path: Path | None) -> CollectorSettings:
    try:
        return CollectorSettings.load(path)
    except ConfigError as err:
        print(f"wardwatch: bad configuration:\n{err}", file=sys.stderr)
        raise SystemExit(2) from None


class StartupError(Exception):
    """The collector cannot start; the message says what and where (a port, a file), never a secret."""


def server_ssl_context(http: HttpSettings) -> ssl.SSLContext | None:
    if http.tls_cert_file is None or http.tls_key_file is None:
        return None
    try:
        return _ssl_context(http)
    except (OSError, ssl.SSLError) as err:
        raise StartupError(
            f"TLS: cannot load the certificate {http.tls_cert_file} and key {http.tls_key_file}"
            + (f" or the client CA {http.tls_client_ca_file}" if http.tls_client_ca_file else "")
            + f": {err}"
        ) from None


def _ssl_context(http: HttpSettings) -> ssl.SSLContext:
    assert http.tls_cert_file is not None and http.tls_key_file is not None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(http.tls_cert_file, http.tls_key_file)
    if http.tls_client_ca_file is not None:
        ctx.load_verify_locations(cafile=http.tls_client_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def cmd_collector_check(args: argparse.Namespace) -> int:
    """Validate what start-up reads: the settings, the SNMP profiles and inventory, the rules, the roster and the
    escalation policies. Prints one line per part; exit 2 naming file, line and field at the first bad part."""
    settings = _load(args.config)
    print(f"OK: settings {args.config or '(environment)'} ({len(settings.agents)} agent credentials)")
    checks = [*_http_checks(settings), *_snmp_checks(settings), *_alerting_checks(settings)]
    for what, check in checks:
        try:
            detail = check()
        except Exception as err:  # each loader raises its own error type, all with file/line/field
            print(f"wardwatch: bad {what}:\n{err}", file=sys.stderr)
            return 2
        print(f"OK: {what}: {detail}")
    return 0


def _http_checks(settings: CollectorSettings) -> list[tuple[str, Callable[[], str]]]:
    http = settings.http
    if http.tls_cert_file is None:
        return []

    def tls() -> str:
        server_ssl_context(http)
        return f"{http.tls_cert_file}" + (
            " (client certificates required)" if http.tls_client_ca_file else ""
        )

    return [("TLS certificate", tls)]


def _snmp_checks(settings: CollectorSettings) -> list[tuple[str, Callable[[], str]]]:
    snmp = settings.snmp
    if not snmp.enabled or snmp.inventory_file is None:
        return []

    def inventory() -> str:
        from collector.snmp.inventory import load_inventory
        from collector.snmp.profiles import load_profiles

        inv = load_inventory(snmp.inventory_file, known_profiles=load_profiles(snmp.profile_dirs))  # type: ignore[arg-type]
        return f"{snmp.inventory_file} ({len(inv.devices)} devices)"

    return [("SNMP inventory", inventory)]


def _alerting_checks(settings: CollectorSettings) -> list[tuple[str, Callable[[], str]]]:
    out: list[tuple[str, Callable[[], str]]] = []
    rules_dir = settings.alerting.rules_dir
    if settings.alerting.enabled and rules_dir is not None:

        def rules() -> str:
            from alerting.rule_config import load_rules_dir

            return f"{rules_dir} ({len(load_rules_dir(rules_dir).rules)} rules)"

        out.append(("rules", rules))
    if settings.rosters.enabled:

        def oncall() -> str:
            from alerting.oncall_source import load_oncall

            loaded = load_oncall(settings.rosters.path, settings.rosters.escalation_file)
            if loaded.policies is None:
                raise FileNotFoundError(
                    f"{loaded.escalation_file}: no escalation policies (nobody would be paged)"
                )
            return (
                f"{loaded.roster_file}, {loaded.escalation_file} ({len(loaded.policies.policies)} policies)"
            )

        out.append(("roster and escalation policies", oncall))
    return out


def cmd_agents_token(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(32)
    print(f"# agent config (keep secret):   token: {token}")
    print("# collector config:")
    print(f"agents:\n  - host: {args.host}\n    token_sha256: {hash_token(token)}")
    return 0


async def serve(
    settings: CollectorSettings, *, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """Run the collector until ``stop`` is set. Sets ``ready`` once listening. Raises ``StartupError``."""
    ctx = server_ssl_context(settings.http)  # first: a missing certificate is said before anything starts
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    try:
        await runner.setup()  # the components start here: store, SNMP trap port, ...
    except OSError as err:
        await runner.cleanup()
        raise StartupError(f"cannot start: {err}") from None
    site = web.TCPSite(runner, settings.http.host, settings.http.port, ssl_context=ctx, shutdown_timeout=5)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise StartupError(f"cannot listen on {settings.http.host}:{settings.http.port}: {err}") from None
    scheme = "https" if ctx else "http"
    for sock in site._server.sockets if site._server else ():  # type: ignore[union-attr]
        host, port = sock.getsockname()[:2]
        log.info("collector listening on %s://%s:%s", scheme, host, port)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("collector stopping")
        await runner.cleanup()


def cmd_collector_run(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    configure_logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop=stop)

    try:
        asyncio.run(main())
    except StartupError as err:
        print(f"wardwatch: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from collector.demo import run_demo

    return run_demo(args.dir, args.data, prometheus=not args.no_prometheus)
