"""``python -m benchmarks NAME [options]``: run one benchmark and print its ratios."""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = {"tile_reads": "benchmarks.bench_tile_reads"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark to run")
    args, rest = parser.parse_known_args(argv)
    module = importlib.import_module(BENCHMARKS[args.name])
    return int(module.main(rest))


if __name__ == "__main__":
    sys.exit(main())
