"""Hypothesis strategies for the property tests that give a parser metadata with any value in
any field (OME-Zarr .zattrs, model manifests, bioimage.io descriptions), and the one way those
tests put a value at a key path of a parsed document."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def any_scalar(*, int_bound: int, text_size: int) -> st.SearchStrategy[Any]:
    """What JSON or YAML can hold in one field, NaN and infinities included."""
    return (
        st.none()
        | st.booleans()
        | st.integers(-int_bound, int_bound)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=text_size)
    )


def any_value(
    *,
    keys: st.SearchStrategy[str],
    int_bound: int = 10**12,
    text_size: int,
    dict_size: int,
    max_leaves: int,
) -> st.SearchStrategy[Any]:
    """Scalars, lists and mappings (keys drawn from `keys`), nested."""
    return st.recursive(
        any_scalar(int_bound=int_bound, text_size=text_size),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=dict_size)
        ),
        max_leaves=max_leaves,
    )


def set_at(document: Any, path: tuple[Any, ...], value: Any) -> None:
    """Put `value` at `path` (keys and list indexes); nothing when the path does not exist."""
    target = document
    for key in path[:-1]:
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            return
    try:
        target[path[-1]] = value
    except (IndexError, TypeError):
        return
