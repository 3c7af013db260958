"""Blocking probe work (statvfs, /proc scans, globs) in threads, at most one call in flight per key.

A thread cannot be cancelled: when ``os.statvfs`` on a dead NFS mount hangs, the timeout frees the cycle but
the thread stays stuck. Starting another one every cycle would soon fill the default executor and stall every
probe; instead, while a key's previous call is still running, that key is skipped with ``StillRunning``.
Each call gets its own daemon thread (not the loop's executor, whose threads are joined at exit), so a
thread stuck in the kernel cannot keep the agent from stopping on SIGTERM.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class StillRunning(Exception):
    """The previous call for this key has not returned yet (it timed out and is still blocked)."""


class BlockingCalls:
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Any]] = {}

    def busy(self, key: str) -> bool:
        return key in self._running

    async def run(self, key: str, timeout_seconds: float, fn: Callable[..., T], *args: Any) -> T:
        if key in self._running:
            raise StillRunning(f"{key}: the previous call has not returned after timing out")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def target() -> None:
            try:
                outcome: tuple[bool, Any] = (True, fn(*args))
            except BaseException as err:  # handed to the awaiting task, not swallowed
                outcome = (False, err)
            try:
                loop.call_soon_threadsafe(_settle, future, outcome)
            except RuntimeError:
                pass  # the loop has closed: nobody is waiting any more

        threading.Thread(target=target, name=f"probe {key}", daemon=True).start()
        self._running[key] = future
        future.add_done_callback(functools.partial(self._finished, key))
        # shield: on timeout the thread keeps the future, and the key stays busy until it returns.
        return await asyncio.wait_for(asyncio.shield(future), timeout_seconds)

    def _finished(self, key: str, future: asyncio.Future[Any]) -> None:
        if self._running.get(key) is future:
            del self._running[key]
        if not future.cancelled():
            future.exception()  # retrieved: a late failure of a timed-out call is not "never retrieved"

    async def wait_idle(self, key: str) -> None:
        """For tests and shutdown: wait until ``key``'s call has returned."""
        future = self._running.get(key)
        if future is not None:
            await asyncio.wait({future})


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
