"""How the CLI reports a failure: one line on stderr naming the file, exit status 2."""

from __future__ import annotations

from tilescope.engine.errors import TilescopeError


class CliError(TilescopeError):
    """A user-facing error; the message is printed as is."""


EXIT_USAGE_OR_INPUT = 2
