"""The one definition of a product's two background steps (STYLE §4 task rules).

`lifecycle_tasks` registers a product's apply task (ids and a generation in; retried with
jittered backoff on `TransientClusterError`; `acks_late` is safe because an apply of a stale or
already-applied generation does nothing and server-side apply of the same objects changes
nothing) and its sync task (beat, every 30 s) under the product's fixed task names, so queued
messages and the beat schedule keep working. Each product's `tasks.py` is one call with its
`driver.Product` adapter (which names the two tasks and runs them through the driver).
"""

from typing import Any, Protocol

from celery import shared_task

from deployments.workloads.errors import TransientClusterError

APPLY_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (TransientClusterError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 12,
}
SYNC_OPTIONS = {"acks_late": True, "ignore_result": True}


class Lifecycle(Protocol):
    """What the task pair needs of a product: `deployments.driver.Product` (this module sits
    below the driver, so it names only the two task names and the two entry points)."""

    apply_task: str
    sync_task: str

    def apply_generation(self, pk: int, generation: int) -> str: ...

    def sync_all(self) -> int: ...


def lifecycle_tasks(product: Lifecycle) -> tuple[Any, Any]:
    """(apply task, sync task) of `product`, registered as its `apply_task` and `sync_task`."""

    def apply(pk: int, generation: int) -> str:
        return product.apply_generation(pk, generation)

    def sync() -> int:
        return product.sync_all()

    return (
        shared_task(name=product.apply_task, **APPLY_OPTIONS)(apply),
        shared_task(name=product.sync_task, **SYNC_OPTIONS)(sync),
    )
