"""Versions of tilescope and the native libraries it runs on (for About and bug reports)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def openslide_version() -> str | None:
    try:
        import openslide

        return str(openslide.__library_version__)
    except Exception:  # a missing or broken native library must not break About
        return None


def onnxruntime_info() -> tuple[str | None, list[str]]:
    """ONNX Runtime's version and the execution providers this build offers."""
    try:
        import onnxruntime as ort

        return str(ort.__version__), list(ort.get_available_providers())
    except Exception:
        return None, []


def about() -> dict[str, object]:
    from tilescope import __version__

    ort_version, providers = onnxruntime_info()
    return {
        "tilescope": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "openslide": openslide_version(),
        "openslide-python": _package_version("openslide-python"),
        "onnxruntime": ort_version,
        "onnxruntime_providers": providers,
        "qt": _package_version("PySide6-Essentials") or _package_version("PySide6"),
        "numpy": _package_version("numpy"),
        "zarr": _package_version("zarr"),
        "tifffile": _package_version("tifffile"),
    }
