"""wardwatch benchmarks. Each module runs on its own (``python -m bench.<name>``) and prints a table;
``python -m bench`` (``make bench``) runs them all. Figures are recorded in docs/benchmarks.md."""
