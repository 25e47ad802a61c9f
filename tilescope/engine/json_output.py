"""JSON for people and programs: NaN and infinities become null, never `NaN`/`Infinity`.

Python's json writes `NaN` and `Infinity`, which are not JSON: jq, browsers and most readers
refuse the whole document. A vendor field or a statistic of an empty set can be NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def finite_or_null(value: Any) -> Any:
    """`value` with every non-finite float (in dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return finite_or_null(value.item())  # numpy scalars
    return value


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON text of `value` (allow_nan=False after replacing non-finite numbers)."""
    return json.dumps(finite_or_null(value), allow_nan=False, **options)
