"""``python -m benchmarks NAME [options]``: run ``benchmarks/bench_NAME.py`` and print its ratios.

Every ``bench_*.py`` module here is a benchmark; none has to be registered. ``python -m
benchmarks`` alone lists them.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

PREFIX = "bench_"


def available() -> dict[str, str]:
    """Benchmark name -> module, from the files next to this one."""
    folder = Path(__file__).resolve().parent
    return {
        path.stem[len(PREFIX) :]: f"benchmarks.{path.stem}"
        for path in sorted(folder.glob(f"{PREFIX}*.py"))
    }


def main(argv: list[str] | None = None) -> int:
    benchmarks = available()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in benchmarks:
        parser = argparse.ArgumentParser(
            prog="python -m benchmarks",
            description="Run one benchmark; options after its name go to the benchmark.",
        )
        parser.add_argument("name", nargs="?", choices=sorted(benchmarks), help="which one")
        parser.parse_args(argv)  # help, or an error naming the choices
        print("benchmarks: " + ", ".join(sorted(benchmarks)))
        return 0
    module = benchmarks[argv[0]]
    sys.argv = [module, *argv[1:]]
    try:
        # As `python -m benchmarks.bench_NAME`: each module's own __main__ block runs.
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
