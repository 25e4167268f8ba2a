"""The one definition of a product's two background steps (STYLE §4 task rules).

`lifecycle_tasks` registers a product's apply task (ids and a generation in; retried with
jittered backoff on `TransientClusterError`; `acks_late` is safe because an apply of a stale or
already-applied generation does nothing and server-side apply of the same objects changes
nothing) and its sync task (beat, every 30 s) under the product's fixed task names, so queued
messages and the beat schedule keep working. Each product's `tasks.py` is one call.
"""

from collections.abc import Callable

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


def lifecycle_tasks(
    apply_name: str,
    apply: Callable[[int, int], str],
    sync_name: str,
    sync: Callable[[], int],
):
    """(apply task, sync task) registered as `apply_name` and `sync_name`."""
    return (
        shared_task(name=apply_name, **APPLY_OPTIONS)(apply),
        shared_task(name=sync_name, **SYNC_OPTIONS)(sync),
    )
