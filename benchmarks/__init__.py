"""Benchmarks that measure tilescope against a reference side by side in one run.

Run from the repository root: ``python -m benchmarks tile_reads``. Never part of the tests:
timings depend on the machine and on what else runs on it.
"""
