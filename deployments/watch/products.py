"""What the status watcher watches and how each product records it (the products' glue).

The watcher itself (`deployments.watch.runner`) knows nothing of endpoints, batch jobs or
routes: it watches `KINDS` in `namespaces()`, marks the `(label, value)` keys of every object
that changed, and hands them to `record(keys, store)` in batches. `record` reuses each
product's pure observe function and its compare-and-set record function, the same ones the
periodic syncs (`sync_statuses`, `sync_batch_jobs`, `sync_routes`) use, so a change recorded
by watch and by the resync is the same write, and writing it twice changes nothing.

A deleting endpoint whose InferenceService is gone is confirmed DELETED by reading its other
objects (a follow-up, off the recording path).

What only the periodic syncs do (they stay as a slow resync safety net): repair drift, re-apply
lost applies and objects deleted by hand, explain a Provisioning endpoint with its pods'
Warning events and a missing Hugging Face token, and stop a batch job at its cost cap while its
pods run on (time passes without any event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deployments.batch import manifests as batch_manifests
from deployments.batch.choices import BATCH_OBSERVED_STATUSES
from deployments.batch.models import BatchJob
from deployments.batch.observe import observe as observe_batch
from deployments.batch.services import record_observations
from deployments.endpoints import coldstarts
from deployments.endpoints import manifests as endpoint_manifests
from deployments.endpoints import observe as endpoint_observe
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.models import Endpoint
from deployments.endpoints.reconcile import ENDPOINTS, confirm_deleted, follow_cold_start
from deployments.k8s import ClusterClient
from deployments.routing import manifests as route_manifests
from deployments.routing.choices import RouteStatus
from deployments.routing.models import Route
from deployments.routing.reconcile import ROUTES
from deployments.workloads import labels
from deployments.workloads.choices import DesiredState

ENDPOINT = labels.LABEL_ENDPOINT_UUID
BATCH = batch_manifests.LABEL_BATCH_UUID
ROUTE = route_manifests.LABEL_ROUTE_UUID
INDEX_LABELS = (ENDPOINT, BATCH, ROUTE)


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    selector: str


KINDS = (
    Kind(endpoint_manifests.ISVC_API, "InferenceService", labels.MANAGED_SELECTOR),
    # KServe's predictor Deployments (replica counts) and complexity routes' routers.
    Kind("apps/v1", "Deployment", labels.MANAGED_SELECTOR),
    # Predictor pods (crash loops, when a replica became ready) and batch shard pods.
    Kind("v1", "Pod", labels.MANAGED_SELECTOR),
    Kind("batch/v1", "Job", batch_manifests.BATCH_SELECTOR),
    Kind(route_manifests.GATEWAY_API, "HTTPRoute", route_manifests.selector()),
)


def namespaces() -> set[str]:
    """The team namespaces holding anything the portal applied and still follows."""
    slugs = set(
        Endpoint.objects.filter(applied_generation__gt=0)
        .exclude(status=EndpointStatus.DELETED)
        .values_list("team__slug", flat=True)
    )
    slugs |= set(
        BatchJob.objects.filter(
            status__in=BATCH_OBSERVED_STATUSES, applied_generation__gte=1
        ).values_list("team__slug", flat=True)
    )
    slugs |= set(
        Route.objects.filter(applied_generation__gt=0)
        .exclude(status=RouteStatus.DELETED)
        .values_list("team__slug", flat=True)
    )
    return {f"{settings.KUBE_NAMESPACE_PREFIX}{slug}" for slug in slugs}


def record(keys: set[tuple[str, str]], store, later: Callable | None = None) -> int:
    """Observe and record every workload named by `keys` ((label, uuid) pairs); returns how
    many rows changed. `later(fn, *args)` runs follow-ups that call the apiserver (a new
    pod start is recorded; a moved planned cold start pushes the ScaledObject) off the recording path; default: at once."""
    by_label: dict[str, set[str]] = {label: set() for label in INDEX_LABELS}
    for label, value in keys:
        by_label[label].add(value)
    changed = 0
    if by_label[ENDPOINT]:
        changed += _record_endpoints(by_label[ENDPOINT], store, later or _now)
    if by_label[BATCH]:
        changed += _record_jobs(by_label[BATCH], store)
    if by_label[ROUTE]:
        changed += _record_routes(by_label[ROUTE], store)
    return changed


def _now(fn: Callable, *args) -> None:
    fn(*args)


def _record_starts(endpoint: Endpoint, pods: list[dict[str, Any]]) -> None:
    """The pods' starts from their own stages (`coldstarts`, as the resync records them); a
    new planned cold start pushes the ScaledObject."""
    client = ClusterClient.from_settings()
    if coldstarts.record_starts(client, endpoint, pods):
        follow_cold_start(client, endpoint)


def _confirm_deleted(endpoint: Endpoint) -> None:
    confirm_deleted(ClusterClient.from_settings(), endpoint)


def _first(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    return objects[0] if objects else None


def _run_of(obj: dict[str, Any]) -> str:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(
        batch_manifests.LABEL_BATCH_RUN, ""
    )


def _record_endpoints(uuids: set[str], store, later: Callable) -> int:
    rows = (
        Endpoint.objects.filter(uuid__in=uuids)
        .exclude(
            status__in=[
                EndpointStatus.PENDING_APPROVAL,
                EndpointStatus.REJECTED,
                EndpointStatus.DELETED,
            ]
        )
        .select_related("team", "model", "gpu_type", "offering")
    )
    now, changed = timezone.now(), 0
    for endpoint in rows:
        if endpoint.applied_generation < endpoint.generation:
            continue  # an apply is in flight: it records its own status
        key = str(endpoint.uuid)
        if endpoint.desired_state == DesiredState.ABSENT:
            if endpoint.status == EndpointStatus.DELETING and not store.by_label(
                "InferenceService", ENDPOINT, key
            ):
                later(_confirm_deleted, endpoint)  # its ScaledObject and PDB are not watched
            continue
        isvc = _first(store.by_label("InferenceService", ENDPOINT, key))
        if isvc is None:
            continue  # not created yet, or deleted by hand: the resync repairs drift
        pods = store.by_label("Pod", ENDPOINT, key)
        observed = endpoint_observe.status_from(
            isvc,
            _first(store.by_label("Deployment", ENDPOINT, key)),
            endpoint=endpoint,
            now=now,
            pods=pods,
        )
        if observed is None:
            continue
        if coldstarts.unrecorded(pods):
            later(_record_starts, endpoint, pods)
        if (
            observed.status == endpoint.status == EndpointStatus.PROVISIONING
            and not observed.timeline
        ):
            continue  # no news: the resync words a waiting endpoint (events, quota, token)
        at = endpoint_observe.transition_time(isvc, observed.status, pods)
        if ENDPOINTS.record(endpoint, observed, at=at):
            changed += 1
    return changed


def _record_jobs(uuids: set[str], store) -> int:
    now = timezone.now()
    with transaction.atomic():
        rows = (
            BatchJob.objects.select_for_update(of=("self",))
            .select_related("team", "gpu_type")
            .filter(
                uuid__in=uuids,
                status__in=BATCH_OBSERVED_STATUSES,
                desired_state=DesiredState.PRESENT,
                applied_generation__gte=1,
            )
        )
        observed = []
        for job in rows:
            if job.applied_generation != job.generation:
                continue
            key, run = str(job.uuid), str(job.run)
            job_obj = _first([o for o in store.by_label("Job", BATCH, key) if _run_of(o) == run])
            if job_obj is None:
                continue  # not created yet, or deleted by hand: the resync applies it again
            pods = [p for p in store.by_label("Pod", BATCH, key) if _run_of(p) == run]
            observed.append((job, observe_batch(job, job_obj, pods, now)))
        return record_observations(observed)


def _record_routes(uuids: set[str], store) -> int:
    rows = Route.objects.filter(
        uuid__in=uuids, desired_state=DesiredState.PRESENT, applied_generation__gt=0
    ).exclude(status=RouteStatus.DELETED)
    changed = 0
    for route in rows:
        key = str(route.uuid)
        obj = _first(store.by_label("HTTPRoute", ROUTE, key))
        if obj is None:
            continue  # the resync applies a missing HTTPRoute again
        router = _first(store.by_label("Deployment", ROUTE, key))
        observed = ROUTES.observe(route, {"HTTPRoute": obj, "Deployment": router})
        if observed and ROUTES.record(route, observed):
            changed += 1
    return changed
