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


def onnxruntime_info() -> tuple[str | None, list[str], list[str]]:
    """ONNX Runtime's version, the providers this build lists, and those that really work here.

    onnxruntime-gpu lists CUDA even on machines without a usable GPU; About must say what
    inference will actually use.
    """
    try:
        import onnxruntime as ort

        from tilescope.engine.inference.sessions import choose_providers

        listed = list(ort.get_available_providers())
        # What `--device auto` would use, in order (probing TensorRT & co. would only print
        # their own installation errors: tilescope never asks for them).
        return str(ort.__version__), listed, list(choose_providers("auto").providers)
    except Exception:
        return None, [], []


def about() -> dict[str, object]:
    from tilescope import __version__
    from tilescope.engine.user_dirs import config_dir, data_dir, log_dir

    ort_version, listed, usable = onnxruntime_info()
    return {
        "tilescope": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "openslide": openslide_version(),
        "openslide-python": _package_version("openslide-python"),
        "onnxruntime": ort_version,
        "onnxruntime_providers": usable,
        "onnxruntime_providers_built": listed,
        "qt": _package_version("PySide6-Essentials") or _package_version("PySide6"),
        "numpy": _package_version("numpy"),
        "zarr": _package_version("zarr"),
        "tifffile": _package_version("tifffile"),
        "settings_folder": str(config_dir()),
        "data_folder": str(data_dir()),
        "log_folder": str(log_dir()),
    }
