"""wardwatch host agent: measures a server's health with psutil and pushes it to the collector.

Importing this package needs only the base dependencies (psutil, aiohttp, pydantic-settings, PyYAML). The
running agent uses psutil and the standard library alone: its settings are validated with pydantic-settings
and PyYAML in a short-lived child process (``agent/__main__.py``), and it speaks HTTP with
``agent/httpclient.py``, not aiohttp.
"""

__version__ = "0.1.0"
