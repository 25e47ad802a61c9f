"""Built-in slide backends, one module each."""

from __future__ import annotations


def register_builtin_backends() -> None:
    from tilescope.engine.slide.backends import openslide_backend
    from tilescope.engine.slide.opener import register_backend

    register_backend(openslide_backend.BACKEND)

    from tilescope.engine.slide.backends import tiff_backend

    register_backend(tiff_backend.BACKEND)

    from tilescope.engine.slide.backends import image_backend, zarr_backend

    register_backend(zarr_backend.BACKEND)
    register_backend(image_backend.BACKEND)
    # Further backends (tifffile fast path, OME-TIFF, OME-Zarr, plain images) register here.
