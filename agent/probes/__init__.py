"""Probes: one module per family. Each returns dicts shaped like its ``agent/wire.py`` model (see
``agent/report.py``); a check that fails carries ``error``."""
