"""Probes: one module per family. Each returns wire models; a check that fails carries ``error``."""
