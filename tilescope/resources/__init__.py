"""Package data only: icons, default configuration, bundled demo slide and models."""

from importlib.resources import files
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a bundled resource (the package is installed unzipped, so this is a real file)."""
    return Path(str(files(__name__).joinpath(*parts)))


def demo_slide_path() -> Path:
    """The bundled demo slide, CMU-1-Small-Region.svs (see NOTICE)."""
    return resource_path("slides", "CMU-1-Small-Region.svs")
