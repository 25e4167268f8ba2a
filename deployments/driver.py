"""The one apply/sync driver every product (endpoints, batch jobs, routes) runs (STYLE §3b, §4).

A product gives only what differs, as a `Product` adapter in its `reconcile.py`; the driver owns
the shape: whether a cluster is connected (`cluster_configured()` is asked here and nowhere else
in the lifecycle), the skip rules, the error handling, the outcomes, the log format, the sync
lock and the per-namespace loop.

Apply (`apply(product, pk, generation) -> Outcome`)
    load -> skip (gone, stale, already applied, not applicable) -> push the rendered objects
    (or, without a cluster, the product's stand-in status) -> record the result with one
    compare-and-set on `generation` that a superseded or duplicate run cannot pass. No row
    lock is held across an apiserver call. `TransientClusterError` propagates (the task
    retries with backoff) after the attempt is noted on the row; `PermanentClusterError`
    records FAILED and is not retried. Running it twice changes nothing: the second run is
    "already-applied".

Sync (`sync(product) -> int`, the number of workloads changed)
    once at a time (a lock in the shared cache) -> `observable` rows -> `prepare` (re-enqueue
    lost applies, start jobs that waited for a cluster) -> per namespace: `read` the live
    objects with label-selected lists -> per workload `observe(workload, live)` (pure) ->
    `repair` what is missing or edited by hand, `record` the rest (compare-and-set). A
    transient error in one namespace is logged and the next run retries it.

The per-product hooks `observe(workload, live)` and `record(workload, observation)` are public
so that a caller that already holds the live objects (e.g. a watch on the apiserver) records
exactly what a sync would, without reading the cluster again.

One log format for every product: `<kind>=<pk> generation=<n> <what happened>`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from deployments.k8s import ClusterClient, cluster_configured
from deployments.workloads.errors import PermanentClusterError, TransientClusterError

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What one apply did, the same words for every product (tasks return it; logs say it)."""

    GONE = "gone"  # the row no longer exists
    STALE = "stale"  # a newer generation was requested; its own apply follows
    ALREADY_APPLIED = "already-applied"  # a duplicate run: nothing to do
    NOT_APPLICABLE = "not-applicable"  # e.g. waiting for approval, rejected, deleted
    NO_CLUSTER = "no-cluster"  # no cluster connected: the stand-in status was recorded
    APPLIED = "applied"  # the cluster matches the row (wanted, or stopped)
    DELETED = "deleted"  # the workload's objects are gone for good
    FAILED = "failed"  # the apiserver refused it (or it cannot be rendered): not retried
    SUPERSEDED = "superseded"  # pushed, but a newer generation got there first


@dataclass(frozen=True)
class Applied:
    """What an apply leaves behind, to be recorded: the status and its message.

    `deleted`: the objects are gone for good (Outcome.DELETED). `event`: write a timeline
    event for the change (False keeps a repeated notice out of the timeline)."""

    status: str
    message: str = ""
    deleted: bool = False
    event: bool = True


@dataclass(frozen=True)
class Missing:
    """An observation saying the workload's objects are missing or were changed by hand."""

    problems: tuple[str, ...]


class Product(ABC):
    """What a product gives the driver. Subclass it in `deployments/<product>/reconcile.py`.

    Apply hooks: `load`, `applicable`, `render` (pure), `push` (render + cluster calls),
    `no_cluster`, `record_applied`, `record_failed`.
    Sync hooks: `prepare`, `sync_transaction`, `observable`, `read`, `observe` (pure),
    `record` (or `record_many`), `recorded`, `repair`.
    The abstract ones every product writes; the others have a default that is right for a
    product without that need. `apply_generation` and `sync_all` are what its two Celery tasks
    run (`deployments.workloads.tasks.lifecycle_tasks(product)`, named `apply_task` and
    `sync_task`).
    """

    kind: ClassVar[str]  # the log key, e.g. "endpoint"
    model: ClassVar[type[Model]]
    sync_lock: ClassVar[str]  # the cache key that keeps two syncs from overlapping
    apply_task: ClassVar[str]  # the apply task's fixed name, e.g. "deployments.apply_endpoint"
    sync_task: ClassVar[str]  # the sync task's fixed name (the beat schedule names it)

    def apply_generation(self, pk: int, generation: int) -> str:
        """Apply one generation of one workload (the apply task); returns the Outcome."""
        return apply(self, pk, generation)

    def sync_all(self) -> int:
        """Observe every live workload (the sync task); returns how many changed."""
        return sync(self)

    # --- apply ------------------------------------------------------------------------------

    @abstractmethod
    def load(self, pk: int) -> Any | None:
        """The row with what `render` and `push` read; None when it is gone."""

    def applicable(self, workload: Any) -> bool:
        """False when the workload is in no state to be applied (waiting for approval...)."""
        return True

    @abstractmethod
    def render(self, workload: Any) -> list[dict]:
        """The objects an apply sends (pure; also the API's and `render_*`'s answer)."""

    @abstractmethod
    def push(self, client: ClusterClient, workload: Any) -> Applied:
        """Make the cluster match the row; raise Permanent/TransientClusterError."""

    @abstractmethod
    def no_cluster(self, workload: Any) -> Applied:
        """What to record when no cluster is connected (nothing is pushed)."""

    @abstractmethod
    def record_applied(self, workload: Any, generation: int, applied: Applied) -> bool:
        """Compare-and-set on `generation`; False when superseded or already recorded."""

    @abstractmethod
    def record_failed(self, workload: Any, generation: int, message: str) -> bool:
        """The apply of `generation` was refused for good; False when superseded."""

    # --- sync -------------------------------------------------------------------------------

    def prepare(self) -> int:
        """Work before observing (e.g. re-enqueue lost applies; inside `sync_transaction`, so
        enqueue on commit); returns workloads changed."""
        return 0

    def sync_transaction(self):
        """The context the rows are loaded, observed and recorded in (default: none)."""
        return nullcontext()

    @abstractmethod
    def observable(self) -> Iterable[Any]:
        """The rows a sync observes (each with a `namespace` and a `pk`)."""

    @abstractmethod
    def read(
        self, client: ClusterClient, namespace: str, workloads: Sequence[Any]
    ) -> Mapping[int, Any]:
        """The live objects of the namespace's workloads, by workload pk (list calls only)."""

    @abstractmethod
    def observe(self, workload: Any, live: Any) -> Any | Missing | None:
        """Pure: the observation of one workload from its live objects (None: nothing to
        record now; Missing: put the objects back)."""

    @abstractmethod
    def record(self, workload: Any, observation: Any) -> bool:
        """Write one observation (compare-and-set); True when something changed."""

    def record_many(self, client: ClusterClient, observed: list[tuple[Any, Any]]) -> int:
        """Write a namespace's observations; returns how many changed. The default records
        them one by one and calls `recorded` after each change."""
        changed = 0
        for workload, observation in observed:
            if self.record(workload, observation):
                changed += 1
                self.recorded(client, workload, observation)
        return changed

    def recorded(self, client: ClusterClient, workload: Any, observation: Any) -> None:
        """After a change was recorded (e.g. push what the new status changes)."""
        return None  # the default: nothing follows a change

    @abstractmethod
    def repair(self, client: ClusterClient, workload: Any, problems: tuple[str, ...]) -> int:
        """Put missing or hand-edited objects back; returns workloads changed (0 or 1)."""


def _say(product: Product, pk: int, generation: int, what: str, *args: Any) -> str:
    return f"{product.kind}={pk} generation={generation} " + (what % args if args else what)


def _skip(product: Product, workload: Any, generation: int) -> Outcome | None:
    if workload is None:
        return Outcome.GONE
    if workload.generation != generation:
        return Outcome.STALE
    if workload.applied_generation >= generation:
        return Outcome.ALREADY_APPLIED
    if not product.applicable(workload):
        return Outcome.NOT_APPLICABLE
    return None


def apply(product: Product, pk: int, generation: int) -> Outcome:
    """Apply one generation of one workload (see the module docstring)."""
    workload = product.load(pk)
    skip = _skip(product, workload, generation)
    if skip:
        log.info(_say(product, pk, generation, "skipped: %s", skip))
        return skip
    cluster = cluster_configured()
    try:
        if cluster:
            applied = product.push(ClusterClient.from_settings(), workload)
        else:
            applied = product.no_cluster(workload)
    except PermanentClusterError as exc:
        log.warning(_say(product, pk, generation, "failed: %s", exc))
        with transaction.atomic():
            recorded = product.record_failed(workload, generation, str(exc))
        return Outcome.FAILED if recorded else Outcome.SUPERSEDED
    except TransientClusterError as exc:
        # updated_at marks the attempt: a sync's safety net re-enqueues only applies nobody
        # has tried for a while (no pile-up while Celery retries this one).
        product.model.objects.filter(pk=pk, generation=generation).update(
            status_message=f"Cluster not reachable, retrying: {exc}", updated_at=timezone.now()
        )
        log.warning(_say(product, pk, generation, "transient: %s", exc))
        raise
    with transaction.atomic():
        recorded = product.record_applied(workload, generation, applied)
    if not cluster:
        log.info(_say(product, pk, generation, "no cluster -> %s", applied.status))
        return Outcome.NO_CLUSTER
    if not recorded:
        # A newer generation (its own apply follows) or a duplicate run got there first; a
        # sync repairs any drift an out-of-order push left behind.
        log.info(_say(product, pk, generation, "superseded after push"))
        return Outcome.SUPERSEDED
    log.info(_say(product, pk, generation, "applied -> %s", applied.status))
    return Outcome.DELETED if applied.deleted else Outcome.APPLIED


@contextmanager
def _once_at_a_time(key: str) -> Iterator[bool]:
    """True when this run holds the lock (it expires after SYNC_STATUSES_LOCK_SECONDS if a
    run dies); False when another run is still working."""
    if not cache.add(key, 1, settings.SYNC_STATUSES_LOCK_SECONDS):
        yield False
        return
    try:
        yield True
    finally:
        cache.delete(key)


def sync(product: Product) -> int:
    """Observe every live workload of a product; returns how many changed (see above)."""
    if not cluster_configured():
        log.info("%s sync: no cluster configured; nothing to observe", product.kind)
        return 0
    with _once_at_a_time(product.sync_lock) as mine:
        if not mine:
            log.info("%s sync: another run is still working; skipped", product.kind)
            return 0
        return _sync(product)


def _sync(product: Product) -> int:
    with product.sync_transaction():
        # The rows first: an apply that `prepare` enqueues (run at once by an eager worker)
        # is observed by the next run, not counted twice by this one.
        workloads = list(product.observable())
        changed = product.prepare()
        if not workloads:
            return changed
        client = ClusterClient.from_settings()
        for namespace in sorted({w.namespace for w in workloads}):
            here = [w for w in workloads if w.namespace == namespace]
            try:
                changed += sync_namespace(product, client, namespace, here)
            except TransientClusterError as exc:
                log.warning(
                    "%s sync namespace=%s: %s; next run retries", product.kind, namespace, exc
                )
    return changed


def sync_namespace(
    product: Product, client: ClusterClient, namespace: str, workloads: Sequence[Any]
) -> int:
    """Read one namespace's live objects once, then observe, repair and record each workload."""
    live = product.read(client, namespace, workloads)
    changed, observed = 0, []
    for workload in workloads:
        observation = product.observe(workload, live.get(workload.pk))
        if observation is None:
            continue
        if isinstance(observation, Missing):
            changed += product.repair(client, workload, observation.problems)
            continue
        observed.append((workload, observation))
    return changed + product.record_many(client, observed)
