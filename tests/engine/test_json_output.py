"""JSON output never carries NaN or Infinity (not JSON: jq and browsers refuse the document)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tilescope.engine.json_output import dumps


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_everywhere() -> None:
    value = {
        "mpp": [math.inf, 0.5],
        "nested": {"area": math.nan, "ok": 1.5, "list": (1, -math.inf)},
        "numpy": np.float64("nan"),
        "numpy_ok": np.float32(2.5),
        "text": "NaN",
    }
    parsed = _strict(dumps(value))
    assert parsed == {
        "mpp": [None, 0.5],
        "nested": {"area": None, "ok": 1.5, "list": [1, None]},
        "numpy": None,
        "numpy_ok": 2.5,
        "text": "NaN",
    }


def test_plain_json_dumps_would_have_written_infinity() -> None:
    assert "Infinity" in json.dumps({"x": math.inf})  # the problem this module exists for
    with pytest.raises(ValueError):
        _strict(json.dumps({"x": math.inf}))
    assert _strict(dumps({"x": math.inf})) == {"x": None}
