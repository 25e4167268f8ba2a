"""Shared by the usage modules: the error type, constants and the GC pause."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

SECONDS_PER_HOUR = Decimal(3600)
UNKNOWN = "unknown"


class ChargebackError(Exception):
    """Bad input to a chargeback use case (shown to the user as is)."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a collection builds its many small, acyclic
    objects (parsed samples, tuples, rows; reference counting still frees them). At a month of
    100 teams it would otherwise re-scan the growing heap over and over: ~40% of the CPU time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
