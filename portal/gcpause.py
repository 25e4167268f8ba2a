"""Pause Python's cyclic garbage collector while a request builds many small acyclic objects.

Decoding a Prometheus answer of a few hundred thousand numbers allocates as many lists, tuples
and floats. Every 700 allocations CPython runs a young-generation collection, and now and then
a full one that walks the whole heap of the web process (Django, the URL conf, every loaded
module): at 200 endpoints that was more time than decoding the JSON itself. These objects
hold no reference cycles, so reference counting frees them; the collector only needs to run
later. Threads share one switch, so the pause is counted: the collector is switched back on
(if it was on before the first pause) when the last pause of any thread ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (reference counting still frees memory)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
