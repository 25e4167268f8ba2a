"""The platform team's model caches: add or remove one (`cache_model`, `uncache_model`), and
push every cache to the cluster (`apply_model_caches`, the task `deployments.apply_model_caches`).

The cluster holds exactly what the rows say: server-side apply of every LocalModelNodeGroup and
LocalModelCache `modelcache.render` returns (applying the same objects twice changes nothing),
then the portal's own objects of those kinds that no row wants are deleted. Safe to run twice.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from deployments.endpoints import modelcache
from deployments.endpoints.models import ModelCache
from deployments.endpoints.names import APPLY_MODEL_CACHES
from deployments.workloads import labels
from deployments.workloads.errors import PermanentClusterError
from portal import jobs

log = logging.getLogger(__name__)
KINDS = ("LocalModelCache", "LocalModelNodeGroup")  # deleted in this order


def cache_model(model, gpu_type, quantization: str) -> ModelCache:
    """Keep ``model``'s ``quantization`` weights on ``gpu_type``'s nodes (idempotent)."""
    with transaction.atomic():
        cache, _ = ModelCache.objects.get_or_create(
            model=model, gpu_type=gpu_type, quantization=quantization
        )
        cache.full_clean()
        jobs.enqueue_on_commit(APPLY_MODEL_CACHES)
    return cache


def uncache_model(cache: ModelCache) -> None:
    with transaction.atomic():
        cache.delete()
        jobs.enqueue_on_commit(APPLY_MODEL_CACHES)


def wanted() -> list[dict]:
    caches = ModelCache.objects.select_related("model", "gpu_type").order_by("pk")
    return modelcache.render(list(caches))


def apply_model_caches(client) -> int:
    """Push the caches; return how many objects were deleted. A cluster without KServe's
    local-model CRDs is said on every row (PermanentClusterError), never retried."""
    objects = wanted()
    try:
        if objects:
            client.apply(objects)
        deleted = _prune(client, {(o["kind"], o["metadata"]["name"]) for o in objects})
    except PermanentClusterError as exc:
        ModelCache.objects.update(status_message=f"Not applied: {exc}"[:500])
        log.warning("model caches not applied: %s", exc)
        raise
    ModelCache.objects.update(applied_at=timezone.now(), status_message="Applied.")
    log.info("model caches applied: %s objects, %s deleted", len(objects), deleted)
    return deleted


def _prune(client, keep: set[tuple[str, str]]) -> int:
    deleted = 0
    for kind in KINDS:
        for obj in client.list(modelcache.API, kind, None, labels.MANAGED_SELECTOR):
            if (kind, obj["metadata"]["name"]) not in keep:
                client.delete({"apiVersion": modelcache.API, "kind": kind, **obj})
                deleted += 1
    return deleted
