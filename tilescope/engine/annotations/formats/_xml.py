"""Safe streaming XML parsing (defusedxml): no entity expansion, no external entities or DTDs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml.ElementTree import iterparse

from tilescope.engine.annotations.errors import AnnotationFormatError
from tilescope.engine.annotations.formats._common import Limits


def events(path: Path) -> Iterator[tuple[str, Element]]:
    """``(event, element)`` pairs of ``start``/``end`` events; hostile or broken XML raises
    AnnotationFormatError naming the file and, where known, the line."""
    try:
        parser: Any = iterparse(
            str(path),
            events=("start", "end"),
            forbid_dtd=False,  # a plain DOCTYPE is harmless; entities are what attacks use
            forbid_entities=True,
            forbid_external=True,
        )
        yield from parser
    except defusedxml.DTDForbidden:
        raise AnnotationFormatError(path, "XML with a DTD is refused") from None
    except defusedxml.EntitiesForbidden:
        raise AnnotationFormatError(
            path, "XML entity declarations are refused (entity expansion attack?)"
        ) from None
    except defusedxml.ExternalReferenceForbidden:
        raise AnnotationFormatError(path, "XML external references are refused") from None
    except ParseError as error:
        line, column = getattr(error, "position", (0, 0))
        raise AnnotationFormatError(
            path, f"line {line} column {column}: malformed XML ({error.msg})"
        ) from None
    except OSError as error:
        raise AnnotationFormatError(path, f"cannot read the file ({error.strerror})") from None


def number(path: Path, where: str, element: Element, name: str) -> float:
    value = element.get(name)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AnnotationFormatError(path, f"{where}: {name}={value!r} is not a number") from None


def add_vertex(
    path: Path,
    where: str,
    element: Element,
    coords: list[tuple[float, float]],
    limits: Limits,
    container: Element | None,
) -> None:
    """Append the X, Y of a finished vertex element to `coords`, refusing more vertices than
    the limit, and drop the element from its `container` (memory stays flat on huge lists)."""
    coords.append((number(path, where, element, "X"), number(path, where, element, "Y")))
    if len(coords) > limits.max_vertices_per_geometry:
        raise AnnotationFormatError(
            path, f"{where}: more than {limits.max_vertices_per_geometry:,} vertices"
        )
    if container is not None and len(container):
        del container[-1]
