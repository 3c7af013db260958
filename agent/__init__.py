"""wardwatch host agent: measures a server's health with psutil and pushes it to the collector.

Importing this package needs only the base dependencies (psutil, aiohttp, pydantic-settings, PyYAML); the
agent speaks HTTP with ``agent/httpclient.py``, not aiohttp.
"""

__version__ = "0.1.0"
