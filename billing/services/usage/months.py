"""Month totals."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

# --- months ------------------------------------------------------------------------------------


def rows_total(rows: Iterable) -> tuple[int, Decimal]:
    seconds, cost = 0, Decimal("0")
    for r in rows:
        seconds += r.gpu_seconds
        cost += r.cost
    return seconds, cost
