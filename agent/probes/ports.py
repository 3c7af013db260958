"""TCP port checks: can we connect, and how long did it take."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agent.config import PortCheckConfig


async def check_port(check: PortCheckConfig, *, timeout_seconds: float) -> dict[str, Any]:
    """A ``wire.PortCheck``."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            _, writer = await asyncio.open_connection(check.host, check.port)
    except TimeoutError:
        return {
            "name": check.name,
            "target": check.target,
            "up": False,
            "error": f"timed out after {timeout_seconds:g} s",
        }
    except OSError as err:
        return {"name": check.name, "target": check.target, "up": False, "error": err.strerror or str(err)}
    elapsed = time.perf_counter() - started
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # the peer reset the connection we only opened to test: the port was still open
    return {"name": check.name, "target": check.target, "up": True, "connect_seconds": elapsed}
