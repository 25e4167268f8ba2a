"""A short-lived per-process cache for the admin-managed reference data every request reads:
catalog models, GPU types, instance offerings and their prices.

Why: each `POST /api/v1/endpoints/` looked up the model, the GPU type and the price rows
(three of its fifteen statements, ~17 % of its time; bench/README.md "Deploy throughput").
These rows change a few times a month, by an admin.

How fresh: an entry lives `CATALOG_CACHE_SECONDS` (default 10; 0 turns the cache off). A save
or delete of a watched model in this process clears the whole cache at once and again when its
transaction commits (so a reader between the two cannot keep the old rows); other processes
(other web workers, Celery) see the change within the TTL. Writes that send no signals
(`QuerySet.update()`, raw SQL, another process) are also seen within the TTL.

Cached values are shared between requests and threads: treat them as read-only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

T = TypeVar("T")

_entries: dict[Hashable, tuple[float, Any]] = {}
_lock = threading.Lock()


def cached(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`'s value, kept for CATALOG_CACHE_SECONDS under `key`. None is not kept."""
    ttl = settings.CATALOG_CACHE_SECONDS
    if ttl <= 0:
        return compute()
    now = time.monotonic()
    hit = _entries.get(key)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    value = compute()
    if value is not None:
        with _lock:
            _entries[key] = (now, value)
    return value


def clear(**kwargs: Any) -> None:
    with _lock:
        _entries.clear()


def _changed(sender, **kwargs: Any) -> None:
    clear()
    transaction.on_commit(clear, using=kwargs.get("using"))


def watch(*models: type) -> None:
    """Clear the cache whenever one of `models` is saved or deleted (call from AppConfig.ready)."""
    for model in models:
        uid = f"catalog-cache-{model._meta.label_lower}"
        post_save.connect(_changed, sender=model, dispatch_uid=uid + "-save")
        post_delete.connect(_changed, sender=model, dispatch_uid=uid + "-delete")
