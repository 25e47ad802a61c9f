"""How much memory one command may allocate at once, checked before allocating.

A 10 x 10 region at downsample 1e-6 or a 30,000 x 30,000 PNG would otherwise make the kernel
kill the process (or swap the machine to a halt) instead of giving one line. The budget is
`memory_budget_mb` when set, else `memory_budget_fraction` of the smaller of the memory
available now and what `ulimit -v` (RLIMIT_AS) still leaves this process.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from tilescope.engine.errors import BudgetError

_MIB = 1 << 20
#: When nothing can be measured (no /proc, no sysconf), assume this much is available.
_FALLBACK_AVAILABLE = 4 << 30


def _meminfo_kib(field: str, path: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_memory() -> int:
    """Bytes of RAM available to new allocations without swapping (MemAvailable on Linux)."""
    kib = _meminfo_kib("MemAvailable")
    if kib is not None:
        return kib * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_AVAILABLE


def address_space_left() -> int | None:
    """Bytes `ulimit -v` still allows this process to map, None when unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = _meminfo_kib("VmSize", Path("/proc/self/status"))
    return max(0, soft - (used or 0) * 1024)


def memory_budget() -> int:
    """Bytes one allocation (an output image, a decoded file) may take."""
    from tilescope.engine.settings import settings

    current = settings()
    if current.memory_budget_mb > 0:
        return int(current.memory_budget_mb) * _MIB
    room = available_memory()
    left = address_space_left()
    if left is not None:
        room = min(room, left)
    return int(room * float(current.memory_budget_fraction))


def format_bytes(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_allocation(nbytes: float, what: str) -> None:
    """Raise BudgetError (one line naming `what`) when `nbytes` exceed the memory budget."""
    budget = memory_budget()
    if nbytes > budget:
        raise BudgetError(
            f"{what} would need {format_bytes(nbytes)}, more than the memory budget of "
            f"{format_bytes(budget)} (make it smaller, or raise memory_budget_mb / "
            "TILESCOPE_MEMORY_BUDGET_MB)"
        )
