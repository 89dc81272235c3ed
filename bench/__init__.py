"""Benchmarks. Each module is run with `python -m bench.<name>` from the project root."""
