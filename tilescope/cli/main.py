"""Entry point: builds the argument parser from the command modules and runs one command.

A command module exposes `register(subparsers)`, which adds its parser and sets
`func=run` where `run(args) -> int`. Adding a command means adding its module to COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence

from tilescope import __version__
from tilescope.cli.arguments import OneLineParser
from tilescope.cli.errors import EXIT_USAGE_OR_INPUT

COMMANDS = [
    "tilescope.cli.info",
    "tilescope.cli.region",
    "tilescope.cli.about",
    "tilescope.cli.gui",
    "tilescope.cli.screenshot",
    "tilescope.cli.infer",
    "tilescope.cli.models",
    "tilescope.cli.nuclick",
    "tilescope.cli.annotations",
    "tilescope.cli.measure",
    "tilescope.cli.classify",
]

# Third-party loggers that would otherwise turn a one-line error into a page.
_NOISY_LOGGERS = ("tifffile", "PIL", "zarr", "numcodecs", "onnxruntime", "asyncio")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="tilescope",
        description="View, annotate and run AI on whole-slide images and very large images.",
    )
    parser.add_argument("--version", action="version", version=f"tilescope {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


class _StderrLog(logging.StreamHandler):
    """The one stderr handler the CLI installs (replaced, not stacked, when main runs again)."""


def _only_tilescope(record: logging.LogRecord) -> bool:
    return record.name == "tilescope" or record.name.startswith("tilescope.")


def _no_traceback(record: logging.LogRecord) -> bool:
    """Tracebacks go to the log file only; stderr gets the one line printed by `main`."""
    return record.exc_info is None


def _quiet_libraries(debug: bool) -> None:
    """Without --debug only tilescope's own warnings reach stderr: no library chatter."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrLog)]:
        root.removeHandler(old)
    handler = _StderrLog(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    if not debug:
        handler.setLevel(logging.WARNING)
        handler.addFilter(_only_tilescope)
        handler.addFilter(_no_traceback)
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        import warnings

        warnings.filterwarnings("ignore")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_libraries(args.debug)
    from tilescope.engine.log_setup import enable_file_logging

    enable_file_logging()
    if not getattr(args, "func", None):
        # Plain `tilescope` opens the viewer, like double-clicking the app.
        if "tilescope.cli.gui" in COMMANDS:
            args = parser.parse_args(["gui", *(argv or [])])
        else:
            parser.print_help()
            return 0
    from tilescope.engine.errors import TilescopeError, as_user_error, one_line
    from tilescope.engine.inference.progress import RunCancelledError

    log = logging.getLogger("tilescope.cli")
    try:
        return int(args.func(args) or 0)
    except (KeyboardInterrupt, RunCancelledError):
        log.info("%s cancelled", args.command)
        print("tilescope: cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tilescope info --json S | head -1`: the reader is gone
        _silence_stdout()
        return 1
    except Exception as error:
        known = as_user_error(error)
        if isinstance(known, TilescopeError) and known is not error:
            known.__cause__ = error
        if known is None:  # last resort: a bug, still one line and the log's path
            log.error("%s crashed", args.command, exc_info=True)
        else:
            log.info("%s failed: %s", args.command, one_line(known), exc_info=True)
        if args.debug:
            traceback.print_exc()
        print(f"tilescope: error: {_message(error, known)}", file=sys.stderr)
        return EXIT_USAGE_OR_INPUT


def _message(error: BaseException, known: Exception | None) -> str:
    from tilescope.engine.errors import one_line
    from tilescope.engine.log_setup import log_file_path

    if known is not None:
        return one_line(known)
    return f"unexpected {type(error).__name__}: {one_line(error)} (details in {log_file_path()})"


def _silence_stdout() -> None:
    """After a broken pipe, Python's exit flush must not print a second error."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
