"""The memory budget: the setting, a share of the available memory, and `ulimit -v`."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from tilescope.engine import budget
from tilescope.engine.errors import BudgetError, TilescopeError

MIB = 1 << 20


def test_fixed_budget_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILESCOPE_MEMORY_BUDGET_MB", "100")
    assert budget.memory_budget() == 100 * MIB
    budget.check_allocation(100 * MIB, "fits exactly")
    with pytest.raises(BudgetError) as raised:
        budget.check_allocation(100 * MIB + 1, "slide.svs: a 5 x 5 region")
    message = str(raised.value)
    assert isinstance(raised.value, TilescopeError) and isinstance(raised.value, MemoryError)
    assert message.startswith("slide.svs: a 5 x 5 region would need 100.0 MiB")
    assert "memory budget of 100.0 MiB" in message and "\n" not in message


def test_share_of_the_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TILESCOPE_MEMORY_BUDGET_MB", raising=False)
    monkeypatch.setenv("TILESCOPE_MEMORY_BUDGET_FRACTION", "0.25")
    available = budget.available_memory()
    assert available > 0
    # Other processes allocate meanwhile: within a generous margin of a quarter.
    assert budget.memory_budget() == pytest.approx(available * 0.25, rel=0.2)


def _budget_under_ulimit(limit: int) -> dict:
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    script = (
        "import json; from tilescope.engine import budget\n"
        "print(json.dumps({'left': budget.address_space_left(), 'budget': budget.memory_budget(),"
        " 'available': budget.available_memory()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        preexec_fn=limited,
        env={
            **{k: v for k, v in os.environ.items() if k != "TILESCOPE_MEMORY_BUDGET_MB"},
            "TILESCOPE_MEMORY_BUDGET_FRACTION": "0.5",
        },
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ulimit_v_bounds_the_budget() -> None:
    limit = 2 << 30
    measured = _budget_under_ulimit(limit)
    assert 0 < measured["left"] < limit  # what the interpreter already maps is not left
    assert measured["budget"] <= measured["left"] * 0.5 + 1
    assert measured["budget"] <= measured["available"] * 0.5 + 1


def test_unlimited_address_space_is_none() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        pytest.skip("this test process runs under a ulimit -v")
    assert budget.address_space_left() is None


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1536, "1.5 KiB"),
        (3 * MIB, "3.0 MiB"),
        (2**45, "32.0 TiB"),
    ],
)
def test_format_bytes(nbytes: int, text: str) -> None:
    assert budget.format_bytes(nbytes) == text
