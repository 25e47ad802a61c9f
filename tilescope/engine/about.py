"""Versions of tilescope and the native libraries it runs on (for About and bug reports)."""

from __future__ import annotations

import importlib
import platform
from importlib.metadata import PackageNotFoundError, version


def package_version(distributions: tuple[str, ...], module: str | None = None) -> str | None:
    """The installed version of the first distribution found, else `module.__version__`.

    A frozen (PyInstaller) app often carries no package metadata: the module's own
    `__version__` is the fallback that still tells support what runs.
    """
    for name in distributions:
        try:
            return version(name)
        except (PackageNotFoundError, ValueError):
            continue
    if module is None:
        return None
    try:
        found = getattr(importlib.import_module(module), "__version__", None)
    except Exception:  # a broken native library must not break About
        return None
    return str(found) if found else None


def _package_version(name: str) -> str | None:
    return package_version((name,), _MODULES.get(name))


#: The module whose __version__ stands in for a distribution's metadata.
_MODULES = {
    "openslide-python": "openslide",
    "numpy": "numpy",
    "zarr": "zarr",
    "tifffile": "tifffile",
    "onnxruntime": "onnxruntime",
}


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
        # The binding's version from its metadata (the engine imports no Qt); the CLI and
        # Help > About put Qt's own version here, which works in a frozen app too.
        "qt": package_version(("PySide6-Essentials", "PySide6")),
        "numpy": _package_version("numpy"),
        "zarr": _package_version("zarr"),
        "tifffile": _package_version("tifffile"),
        "settings_folder": str(config_dir()),
        "data_folder": str(data_dir()),
        "log_folder": str(log_dir()),
    }
