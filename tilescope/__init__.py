"""tilescope: annotate and run AI on whole-slide images and other very large images."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tilescope")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
