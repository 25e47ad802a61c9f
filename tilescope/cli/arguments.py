"""Argument types that refuse what no command can use: NaN, infinities, absurd sizes.

`float("nan")` parses, and a NaN centre or an infinite device pixel ratio used to reach the
painting code (native crash) or a 14 GB allocation. Every numeric argument goes through one of
these, so that argparse reports it in one line naming the option.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

#: Level-0 coordinates and sizes: larger than any slide ever scanned (2^31 pixels a side).
MAX_COORDINATE = float(1 << 31)
#: Level-0 pixels per output pixel: 1/64 (64x enlarged) up to a million.
DOWNSAMPLE_RANGE = (1 / 64, 1e6)
#: Device pixel ratio of a screen (or of an off-screen rendering).
DPR_RANGE = (0.25, 8.0)
#: View / output sizes in pixels, per side.
MAX_VIEW_SIDE = 32768


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    above: float | None = None,
    integer: bool = False,
) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] (or > `above`), whole if `integer`."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if integer and value != int(value):
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be greater than {above:g}, got {text!r}")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, got {text!r}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text!r}")
        return int(value) if integer else value

    parse.__name__ = "integer" if integer else "number"  # argparse names the type in errors
    return parse


def index(text: str) -> int:
    """A scene or level index: a whole number from 0."""
    return int(number(0, 1_000_000, integer=True)(text))


coordinate = number(-MAX_COORDINATE, MAX_COORDINATE)
length = number(high=MAX_COORDINATE, above=0)
downsample = number(*DOWNSAMPLE_RANGE)
dpr = number(*DPR_RANGE)
seconds = number(high=7 * 24 * 3600, above=0)
pixel_size = number(above=0, high=1e6)  # then checked against the plausible range


def add_mpp(parser: argparse.ArgumentParser, help_text: str) -> None:
    """--mpp UM: one parsing for every command that takes the slide's pixel size in um."""
    parser.add_argument("--mpp", type=pixel_size, metavar="UM", help=help_text)


def pair(separator: str, element: Callable[[str], float], what: str) -> Callable[[str], tuple]:
    """An argparse type for two values such as X,Y or WxH, each parsed by `element`."""

    def parse(text: str) -> tuple:
        parts = text.lower().split(separator)
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        try:
            return (element(parts[0]), element(parts[1]))
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"expected {what}: {error}") from None

    parse.__name__ = what
    return parse


def points(text: str) -> list[tuple[float, float]]:
    """X1,Y1,X2,Y2,... as level-0 points (each coordinate finite and bounded)."""
    values = text.split(",")
    if len(values) < 2 or len(values) % 2:
        raise argparse.ArgumentTypeError(f"expected X1,Y1,X2,Y2,... got {text!r}")
    numbers = [coordinate(v) for v in values]
    return list(zip(numbers[0::2], numbers[1::2], strict=True))


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (the usage is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")
