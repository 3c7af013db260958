"""``wardwatch-agent``: collect a report every interval and push it to the collectors.

wardwatch-agent --config /etc/wardwatch/agent.yaml              # run (SIGTERM/SIGINT stop cleanly)
wardwatch-agent --config agent.yaml --once --print             # print one report, send nothing
wardwatch-agent --config agent.yaml --check-config             # validate, print OK or the errors

The settings are read and validated by ``agent/settings.py`` (pydantic-settings, PyYAML) in a short-lived
child process (:func:`load_config`), which hands the validated values back over a pipe: the daemon never
imports pydantic, pydantic-settings or PyYAML (together about 14 MiB of resident memory, over a third of the
agent's, that it would keep for its whole life for work done once at start-up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.collect import ReportBuilder
from agent.config import AgentConfig
from agent.report import Report, to_json_bytes
from agent.watch import ListenerWatch, ProcessWatch, Prompt, local_port_numbers

if TYPE_CHECKING:
    from agent.sender import Sender

log = logging.getLogger("agent")
QUEUE_LIMIT = 100  # reports waiting for the sender; past this the oldest is dropped (and logged)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wardwatch-agent", description="wardwatch host agent")
    parser.add_argument("--config", type=Path, help="YAML settings file (WARDWATCH_AGENT_* variables win)")
    parser.add_argument("--once", action="store_true", help="run one cycle and exit")
    parser.add_argument("--print", action="store_true", help="print each report as JSON; send nothing")
    parser.add_argument("--check-config", action="store_true", help="validate the settings and exit")
    return parser.parse_args(argv)


class InvalidSettings(Exception):
    """The settings are wrong; the message names the file and the field (``agent.settings_file.ConfigError``)."""


def _validate(path: Path | None) -> dict[str, Any]:
    """Read and validate the settings with pydantic: ``{"config": ...}`` or ``{"error": ...}``."""
    from pydantic_settings import SettingsError

    from agent.settings import AgentSettings
    from agent.settings_file import ConfigError, load_settings

    try:
        return {"config": load_settings(AgentSettings, path).runtime_dict()}
    except ConfigError as err:
        return {"error": str(err)}
    except SettingsError as err:  # a WARDWATCH_AGENT_* variable that is not valid JSON where JSON is expected
        return {"error": f"environment: {err}"}


def _validate_in_child(path: Path | None) -> dict[str, Any]:
    """:func:`_validate` in a forked child: its imports and garbage leave with it."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: validate, write the answer, and leave without running any exit handlers
        status = 0
        try:
            os.close(read_fd)
            with open(write_fd, "wb") as pipe:
                pipe.write(json.dumps(_validate(path)).encode())
        except BaseException:
            import traceback

            traceback.print_exc()
            status = 1
        finally:
            sys.stderr.flush()
            os._exit(status)
    os.close(write_fd)
    with open(read_fd, "rb") as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not answer:
        raise InvalidSettings(
            f"validating the settings failed (exit status {os.waitstatus_to_exitcode(status)})"
        )
    return json.loads(answer)


def load_config(path: Path | None) -> AgentConfig:
    """The validated settings (YAML file < environment), validated in a child process where fork exists."""
    result = _validate_in_child(path) if hasattr(os, "fork") else _validate(path)
    if "error" in result:
        raise InvalidSettings(result["error"])
    return AgentConfig.from_dict(result["config"])


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        settings = load_config(args.config)
    except InvalidSettings as err:
        print(f"wardwatch-agent: configuration error:\n{err}", file=sys.stderr)
        return 1
    sending = not args.print
    problems = settings.sending_problems() if sending or args.check_config else []
    if args.check_config:
        if problems and not args.print:
            print("\n".join(f"{args.config or 'environment'}: {p}" for p in problems), file=sys.stderr)
            return 1
        print(f"OK: {args.config or 'environment'}")
        return 0
    if problems:
        print("wardwatch-agent: cannot send:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return asyncio.run(run(settings, once=args.once, print_only=args.print))
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        return 130


async def run(settings: AgentConfig, *, once: bool, print_only: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    builder = ReportBuilder(settings)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(builder.close)
        queue: asyncio.Queue[Report] | None = None
        sender_task = None
        sender = None
        if not print_only:
            sender = await _open_sender(settings, stack)
            queue = asyncio.Queue()
            sender_task = asyncio.create_task(_deliver_forever(sender, queue), name="sender")
        prompts = Prompt(settings.interval_seconds)  # nothing asks it for anything without the watches
        processes = (
            None if once or not settings.prompt_reports else _start_watches(settings, prompts, loop, stack)
        )
        start = loop.time()
        cycle = 0
        exit_code = 0
        # this cycle was asked for by a kernel notification (agent.watch), between regular ones
        prompt = False
        while not stop.is_set():
            try:
                report: Report | None = await builder.collect(prompt=prompt)
            except Exception:  # task boundary: one collection cycle; the next one may well succeed
                log.exception("collection cycle failed")
                report = None
                exit_code = 1
            if report is None:
                pass
            elif print_only:
                sys.stdout.write(to_json_bytes(report).decode() + "\n")
                sys.stdout.flush()
            else:
                assert queue is not None
                if queue.qsize() >= QUEUE_LIMIT:
                    dropped = queue.get_nowait()
                    log.error(
                        "sender is %d reports behind: dropped report seq=%d", QUEUE_LIMIT, dropped["seq"]
                    )
                queue.put_nowait(report)
            if once:
                break
            if processes is not None:
                processes.track(loop, builder.process_pids)
            if not prompt:  # a prompt cycle leaves the schedule as it was
                cycle = next_slot(
                    cycle, elapsed_seconds=loop.time() - start, interval_seconds=settings.interval_seconds
                )
            delay = start + cycle * settings.interval_seconds - loop.time()
            prompt = await prompts.wait(stop, max(0.0, delay))
        if queue is not None and sender_task is not None:
            if once:
                await _finish(queue, sender_task, stop)
            sender_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender_task
            if sender is not None:
                _spool_leftovers(sender, queue)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    return exit_code if once else 0


def _start_watches(
    settings: AgentConfig, prompts: Prompt, loop: asyncio.AbstractEventLoop, stack: contextlib.AsyncExitStack
) -> ProcessWatch:
    """The kernel notifications that ask ``prompts`` for a prompt cycle (``agent.watch``); closed with ``stack``.
    Returns the process watch, told after every cycle which processes to watch."""
    listeners = ListenerWatch(
        local_port_numbers(settings.checks.ports),
        lambda port: prompts.request(f"a listener on port {port} closed"),
    )
    if listeners.start(loop):
        stack.callback(listeners.close, loop)
    processes = ProcessWatch(
        lambda check: prompts.request(f"process check {check}: every process it counted exited")
    )
    stack.callback(processes.close)
    return processes


def next_slot(cycle: int, *, elapsed_seconds: float, interval_seconds: float) -> int:
    """Drift-free schedule: cycle k starts at start + k * interval; slots missed while busy are skipped."""
    return max(cycle + 1, math.floor(elapsed_seconds / interval_seconds) + 1)


async def _open_sender(settings: AgentConfig, stack: contextlib.AsyncExitStack) -> Sender:
    from agent.sender import Sender
    from agent.spool import Spool

    spool = Spool(
        settings.spool.dir, max_bytes=settings.spool.max_bytes, max_age_seconds=settings.spool.max_age_seconds
    )
    sender = Sender(settings, spool)
    stack.push_async_callback(sender.close)
    return sender


async def _deliver_forever(sender: Sender, queue: asyncio.Queue[Report]) -> None:
    while True:
        report = await queue.get()
        try:
            # A replay of the spool gives way as soon as a newer report waits: it goes first, so the collector
            # gets the host's current values on time however long the replay is.
            await sender.deliver(report, interrupted=lambda: not queue.empty())
        except Exception:  # task boundary: one delivery; the report's fate is logged, the agent goes on
            log.exception("delivering report seq=%d failed", report["seq"])
        finally:
            queue.task_done()


def _spool_leftovers(sender: Sender, queue: asyncio.Queue[Report]) -> None:
    """Stopping: reports collected but not yet sent go to the spool, for the next run to replay."""
    kept = 0
    while not queue.empty():
        sender.keep(queue.get_nowait())
        kept += 1
    if kept:
        log.info("stopping: spooled %d unsent report(s)", kept)


async def _finish(queue: asyncio.Queue[Report], sender_task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """--once: wait until the report is delivered or spooled (or a signal asks us to stop)."""
    joined = asyncio.create_task(queue.join())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({joined, stopped, sender_task}, return_when=asyncio.FIRST_COMPLETED)
    joined.cancel()
    stopped.cancel()


if __name__ == "__main__":
    sys.exit(main())
