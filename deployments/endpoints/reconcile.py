"""Endpoints as a product of the one apply/sync driver (deployments.driver).

The Celery tasks in `deployments.endpoints.tasks` are one-line wrappers around the two functions
here, which run the driver over `ENDPOINTS`; this module says only what is an endpoint's own:

apply
    skip an endpoint waiting for approval, rejected or deleted; push the rendered manifests
    (server-side apply) and delete the objects it should no longer have, or delete all of them
    when it is ABSENT; record PROVISIONING / STOPPED / DELETED (`services.record_applied`).
    DELETED means gone for good: KServe and KEDA hold their objects with finalizers after the
    delete is accepted, so the apply waits up to `KUBE_DELETE_WAIT_SECONDS` for them to go, and
    records DELETING ("waiting for ...") when they are still there; the sync, or the status
    watcher, records DELETED once they are gone (`deletion`).

sync
    one label-selected list per namespace and kind; map the InferenceService to a status
    (`observe.status_from`) and record changes (`services.record_observed` keeps the time spent
    in the previous status, e.g. the cold start); explain a non-ready endpoint (conditions +
    Warning events of its pods, quota refusals, a missing Hugging Face token); put back objects
    that are missing or were edited by hand ("Drift repaired" in the timeline); re-enqueue
    applies that were lost (worker killed, broker lost the message) once they are
    `KUBE_REAPPLY_AFTER_SECONDS` old; re-bind the portal's roles in a namespace that answers 403.

Embedded dev mode (no KUBECONFIG and not in a cluster): nothing is applied. A present endpoint
is NOT_DEPLOYED ("no cluster connected", neutral and final, so the UI stops polling; its
manifests are still viewable), a stopped one STOPPED and a deleted one DELETED, since
nothing of it can exist anywhere. `applied_generation` is left behind for present endpoints, so
once a cluster is configured `sync_statuses` applies them.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deployments import driver
from deployments.driver import Applied, Missing
from deployments.endpoints import coldstart, coldstart_plans, coldstarts, manifests, observe
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.models import Endpoint
from deployments.endpoints.names import APPLY_ENDPOINT, SYNC_STATUSES
from deployments.endpoints.services import add_event, record_applied, record_observed
from deployments.k8s import ClusterClient
from deployments.nodepools.observe import pending_reason
from deployments.workloads import labels
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import PermanentClusterError
from portal import jobs

log = logging.getLogger(__name__)

NOT_APPROVED = (EndpointStatus.PENDING_APPROVAL, EndpointStatus.REJECTED)
# Shared per-team objects: an apply may skip them when this process sent the same content
# within k8s.REUSE_SECONDS (sync_statuses still checks and repairs them on every run).
TEAM_KINDS = ("Namespace", "RoleBinding", "ResourceQuota")
NO_CLUSTER_MESSAGE = (
    "Not deployed: no cluster connected. The request is approved and its manifests are "
    "ready; the platform team connects a Kubernetes cluster, and the endpoint is deployed then."
)
SYNC_LOCK = "deployments:sync-statuses:running"
# How often a delete looks again whether the objects are gone (their finalizers ran).
DELETE_POLL_SECONDS = 0.25


def _reapply_after() -> int:
    return settings.KUBE_REAPPLY_AFTER_SECONDS


def _load(endpoint_id: int) -> Endpoint | None:
    return (
        Endpoint.objects.select_related("team", "model", "gpu_type", "offering")
        .filter(pk=endpoint_id)
        .first()
    )


def _load_locked(endpoint_id: int) -> Endpoint | None:
    return (
        Endpoint.objects.select_for_update(of=("self",))
        .select_related("team", "model", "gpu_type", "offering")
        .filter(pk=endpoint_id)
        .first()
    )


def apply_endpoint(endpoint_id: int, generation: int) -> str:
    """Apply one generation of an endpoint; returns the driver's Outcome."""
    return driver.apply(ENDPOINTS, endpoint_id, generation)


def sync_statuses() -> int:
    """Observe every live endpoint; returns how many endpoints changed (status or repair)."""
    return driver.sync(ENDPOINTS)


class Endpoints(driver.Product):
    kind = "endpoint"
    model = Endpoint
    sync_lock = SYNC_LOCK
    apply_task, sync_task = APPLY_ENDPOINT, SYNC_STATUSES

    # --- apply ------------------------------------------------------------------------------

    def load(self, pk: int) -> Endpoint | None:
        return _load(pk)

    def applicable(self, endpoint: Endpoint) -> bool:
        return endpoint.status not in (*NOT_APPROVED, EndpointStatus.DELETED)

    def render(self, endpoint: Endpoint) -> list[dict]:
        return manifests.render(endpoint)

    def push(self, client: ClusterClient, endpoint: Endpoint) -> Applied:
        try:
            manifests.check_renderable(endpoint)
        except manifests.ManifestError as exc:
            raise PermanentClusterError(str(exc)) from exc
        if endpoint.desired_state == DesiredState.ABSENT:
            return _delete(client, endpoint)
        client.apply(self.render(endpoint), reuse_kinds=TEAM_KINDS)
        for obj in manifests.unwanted_objects(endpoint):
            client.delete(obj)  # e.g. the PDB once the endpoint may only run one replica
        if endpoint.desired_state == DesiredState.STOPPED:
            return Applied(
                EndpointStatus.STOPPED, f"Stop applied (generation {endpoint.generation})."
            )
        return Applied(
            EndpointStatus.PROVISIONING,
            f"Applied generation {endpoint.generation}; waiting for KServe to roll it out.",
        )

    def no_cluster(self, endpoint: Endpoint) -> Applied:
        if endpoint.desired_state == DesiredState.PRESENT:
            # One notice per endpoint: after a Start the status returns to Not deployed quietly.
            told = endpoint.events.filter(new_status=EndpointStatus.NOT_DEPLOYED).exists()
            return Applied(EndpointStatus.NOT_DEPLOYED, NO_CLUSTER_MESSAGE, event=not told)
        if endpoint.desired_state == DesiredState.ABSENT:
            return Applied(
                EndpointStatus.DELETED, "No cluster configured; nothing to change.", deleted=True
            )
        return Applied(EndpointStatus.STOPPED, "No cluster configured; nothing to change.")

    def record_applied(self, endpoint: Endpoint, generation: int, applied: Applied) -> bool:
        if applied.status == EndpointStatus.NOT_DEPLOYED:
            # Not applied: applied_generation stays behind, so a cluster connected later
            # applies it (sync's lost-apply safety net).
            return record_observed(
                endpoint.pk,
                applied.status,
                applied.message,
                generation=generation,
                event=applied.event,
            )
        return record_applied(endpoint, generation, applied.status, applied.message)

    def record_failed(self, endpoint: Endpoint, generation: int, message: str) -> bool:
        return record_applied(endpoint, generation, EndpointStatus.FAILED, message, EventKind.ERROR)

    # --- sync -------------------------------------------------------------------------------

    def prepare(self) -> int:
        return _requeue_lost_applies()

    def observable(self):
        return (
            Endpoint.objects.exclude(status__in=[*NOT_APPROVED, EndpointStatus.DELETED])
            .exclude(status=EndpointStatus.APPROVED, applied_generation=0)
            .select_related("team", "model", "gpu_type", "offering")
        )

    def read(
        self, client: ClusterClient, namespace: str, endpoints: Sequence[Endpoint]
    ) -> dict[int, dict[str, Any]]:
        """A 403 in a team namespace means the portal's RoleBindings there are missing (a
        namespace from before the chart bound them, or one deleted by hand): apply the team's
        objects (the bindings first), then read once more."""
        try:
            return _read(client, namespace, endpoints)
        except PermanentClusterError as exc:
            if getattr(exc, "status", None) != 403 or not settings.KUBE_TEAM_ROLE_BINDINGS:
                raise
            log.warning(
                "endpoint sync namespace=%s: %s; binding the portal's roles again", namespace, exc
            )
            client.apply(manifests.team_objects(endpoints[0].team))
            return _read(client, namespace, endpoints)

    def observe(
        self, endpoint: Endpoint, live: dict[str, Any]
    ) -> observe.Observed | Missing | None:
        """Pure over `live` (the endpoint's objects by kind, "Pod" a list; "events",
        "token" and "nodes" may be callables read only when the endpoint is not ready)."""
        if endpoint.applied_generation < endpoint.generation:
            return None  # an apply is in flight (or lost: prepare re-enqueues it)
        if endpoint.desired_state == DesiredState.ABSENT:
            return deletion(endpoint, live)
        isvc = live.get("InferenceService")
        if endpoint.status == EndpointStatus.FAILED and isvc is None:
            return None  # the apply itself failed; a person must change the request
        problems = drift(endpoint, live)
        if problems:
            return Missing(tuple(problems))
        observed = observe.status_from(
            isvc,
            live.get("Deployment"),
            endpoint=endpoint,
            now=live.get("now") or timezone.now(),
            pods=live.get("Pod"),
        )
        if observed is None:
            return None
        # The pods go along for the cold-start stages `record_many` reads from them.
        observed = replace(observed, pods=tuple(live.get("Pod") or ()))
        if observed.status != EndpointStatus.PROVISIONING:
            return observed
        message = explain(endpoint, observed.message, _value(live.get("events")) or [])
        token = _value(live.get("token")) or ""
        nodes = _value(live.get("nodes")) or ""
        return replace(observed, message=token + nodes + message)

    def record(
        self, endpoint: Endpoint, observed: observe.Observed, *, at: datetime | None = None
    ) -> bool:
        """Compare-and-set at the endpoint's generation. `at`: the controller's transition
        time when the caller knows it (the status watcher), else now."""
        return record_observed(
            endpoint.pk,
            observed.status,
            observed.message,
            observed.url,
            generation=endpoint.generation,
            kind=EventKind.INFO if observed.timeline else EventKind.STATUS,
            at=at,
        )

    def record_many(self, client: ClusterClient, observed: list[tuple[Endpoint, Any]]) -> int:
        """Record the statuses, then each pod's start from its own stages (`coldstarts`): a
        new planned cold start moves the ScaledObject (`_follow_cold_start`)."""
        changed = super().record_many(client, observed)
        pods = [pod for _, seen in observed for pod in seen.pods]
        recorded = coldstarts.recorded(pods)
        for endpoint, seen in observed:
            if coldstarts.record_starts(client, endpoint, list(seen.pods), recorded):
                follow_cold_start(client, endpoint)
        return changed

    def repair(self, client: ClusterClient, endpoint: Endpoint, problems: tuple[str, ...]) -> int:
        return _repair(client, endpoint, list(problems))


ENDPOINTS = Endpoints()


def _delete(client: ClusterClient, endpoint: Endpoint) -> Applied:
    """Delete the endpoint's objects (the InferenceService last), then wait up to
    `KUBE_DELETE_WAIT_SECONDS` for their finalizers: DELETED only once every one is gone."""
    objects = list(reversed(manifests.removable_objects(endpoint)))
    gone = [obj for obj in objects if client.delete(obj)]
    left = _still_there(client, endpoint, objects)
    deadline = time.monotonic() + settings.KUBE_DELETE_WAIT_SECONDS
    while left and time.monotonic() < deadline:
        time.sleep(DELETE_POLL_SECONDS)
        left = _still_there(client, endpoint, left)
    if left:
        return Applied(EndpointStatus.DELETING, _waiting_for(left))
    message = (
        f"Deleted {', '.join(o['kind'] for o in gone)}." if gone else "Nothing left to delete."
    )
    return Applied(EndpointStatus.DELETED, message, deleted=True)


def _still_there(client: ClusterClient, endpoint: Endpoint, objects: list[dict]) -> list[dict]:
    """The ones of `objects` the cluster still holds: a list by the endpoint's label per kind,
    as the sync reads them (the team role lists these kinds; it does not get them)."""
    selector = f"{labels.MANAGED_SELECTOR},{manifests.LABEL_ENDPOINT_UUID}={endpoint.uuid}"
    held = []
    for obj in objects:
        listed = client.list(obj["apiVersion"], obj["kind"], endpoint.namespace, selector)
        if any(o["metadata"]["name"] == obj["metadata"]["name"] for o in listed):
            held.append(obj)
    return held


def _waiting_for(objects: list[dict]) -> str:
    names = ", ".join(f"{o['kind']} {o['metadata']['name']}" for o in objects)
    return (
        f"Deleting: waiting for {names} to be removed (the controllers' finalizers run first). "
        "The status turns Deleted once they are gone."
    )


def deletion(endpoint: Endpoint, live: dict[str, Any]) -> observe.Observed | None:
    """Pure: a deleting endpoint whose objects are all gone from `live` (its objects by kind)
    is DELETED; None while any is still there, or when the endpoint is not deleting."""
    if endpoint.status != EndpointStatus.DELETING:
        return None  # deleted already, or the delete failed: a person must look
    if any(live.get(kind) is not None for kind in manifests.REMOVABLE_KINDS):
        return None
    return observe.Observed(
        EndpointStatus.DELETED, "Deleted: its objects are gone from the cluster."
    )


def confirm_deleted(client: ClusterClient, endpoint: Endpoint) -> bool:
    """Read a deleting endpoint's objects (the status watcher does not watch all of their
    kinds) and record DELETED when they are all gone; True when it was recorded."""
    objects = manifests.removable_objects(endpoint)
    live = {obj["kind"]: obj for obj in _still_there(client, endpoint, objects)}
    observed = ENDPOINTS.observe(endpoint, live)
    return observed is not None and ENDPOINTS.record(endpoint, observed)


def _value(item: Any) -> Any:
    return item() if callable(item) else item


def _once(read: Callable[[], Any]) -> Callable[[], Any]:
    """A read done at most once, when first asked for (Warning events of a namespace)."""
    done: list[Any] = []

    def get() -> Any:
        if not done:
            done.append(read())
        return done[0]

    return get


def _read(
    client: ClusterClient, namespace: str, endpoints: Sequence[Endpoint]
) -> dict[int, dict[str, Any]]:
    kinds = {
        "InferenceService": manifests.ISVC_API,
        "ScaledObject": manifests.KEDA_API,
        "PodDisruptionBudget": manifests.PDB_API,
        # Made by KServe from the InferenceService, whose labels it copies: replica counts.
        "Deployment": "apps/v1",
    }
    by_kind = {
        kind: _by_uuid(client.list(api, kind, namespace, labels.MANAGED_SELECTOR))
        for kind, api in kinds.items()
    }
    pods_by_uuid: dict[str, list[dict]] = defaultdict(list)
    for pod in client.list("v1", "Pod", namespace, labels.MANAGED_SELECTOR):
        uuid = (pod["metadata"].get("labels") or {}).get(manifests.LABEL_ENDPOINT_UUID)
        pods_by_uuid[uuid].append(pod)
    _repair_team_objects(client, endpoints[0].team)
    now, events = timezone.now(), _once(lambda: client.events(namespace))
    live = {}
    for endpoint in endpoints:
        key = str(endpoint.uuid)
        live[endpoint.pk] = {
            **{kind: objects.get(key) for kind, objects in by_kind.items()},
            "Pod": pods_by_uuid.get(key),
            "now": now,
            "events": events,
            "token": (lambda ep=endpoint: _missing_token(client, ep)),
            # Karpenter's side of a pending replica (launching a node, a pool's limit).
            "nodes": (
                lambda ep=endpoint, key=key: pending_reason(
                    client, pods_by_uuid.get(key) or [], events(), now, f"{ep.isvc_name}-predictor"
                )
            ),
        }
    return live


def _lost_applies():
    cutoff = timezone.now() - timedelta(seconds=_reapply_after())
    return (
        Endpoint.objects.filter(updated_at__lt=cutoff)
        .exclude(status__in=[*NOT_APPROVED, EndpointStatus.DELETED])
        .exclude(applied_generation__gte=F("generation"))
    )


def _requeue_lost_applies() -> int:
    count = 0
    for endpoint_id, generation in _lost_applies().values_list("pk", "generation"):
        log.info(
            "endpoint=%s generation=%s apply was lost; enqueueing again", endpoint_id, generation
        )
        jobs.enqueue(APPLY_ENDPOINT, endpoint_id, generation)
        count += 1
    return count


def _by_uuid(objects: list[dict]) -> dict[str, dict]:
    return {
        (o["metadata"].get("labels") or {}).get(manifests.LABEL_ENDPOINT_UUID): o for o in objects
    }


def _contains(want: Any, have: Any) -> bool:
    """True when every field we set is present with the same value (extra fields are fine)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and _contains(v, have[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_contains(w, h) for w, h in zip(want, have, strict=True))
        )
    return want == have


def drift(endpoint: Endpoint, live: dict[str, dict | None]) -> list[str]:
    """Descriptions of the endpoint's objects that are missing or differ from what we apply
    (and of objects it should no longer have, e.g. a PDB after scaling to one replica)."""
    problems = []
    for obj in manifests.unwanted_objects(endpoint):
        if live.get(obj["kind"]) is not None:
            problems.append(f"{obj['kind']} {obj['metadata']['name']} should not exist")
    for obj in manifests.endpoint_objects(endpoint):
        have = live.get(obj["kind"])
        if have is None:
            problems.append(f"{obj['kind']} {obj['metadata']['name']} was missing")
        elif not (
            _contains(obj["metadata"]["labels"], have["metadata"].get("labels"))
            and _contains(obj["metadata"]["annotations"], have["metadata"].get("annotations"))
            and _contains(obj["spec"], have.get("spec"))
        ):
            problems.append(f"{obj['kind']} {obj['metadata']['name']} was changed by hand")
    return problems


def _missing_token(client: ClusterClient, endpoint: Endpoint) -> str:
    """For a gated model whose team has no Hugging Face token Secret: why nothing starts.

    KServe's pod webhook refuses every predictor pod while the Secret named by
    `serving.kserve.io/storageSecretName` is missing, so this is said first, plainly."""
    if not endpoint.model.gated:
        return ""
    name = settings.KUBE_HF_TOKEN_SECRET
    secret = client.get("v1", "Secret", name, endpoint.namespace)
    if secret is not None and manifests.HF_TOKEN_KEY in (secret.get("data") or {}):
        return ""
    what = "is missing" if secret is None else f"has no key {manifests.HF_TOKEN_KEY}"
    return (
        f"{endpoint.model.name} is gated on Hugging Face: Secret {name!r} in namespace "
        f"{endpoint.namespace!r} {what}, so the storage-initializer cannot download the "
        f"weights and KServe refuses the pod. A team admin must create it (key "
        f"{manifests.HF_TOKEN_KEY}, a token that was granted access to the model). "
    )


def follow_cold_start(client: ClusterClient, endpoint: Endpoint) -> None:
    """A new planned cold start (the measured p95 of this model on this GPU, written by
    `coldstarts.record_starts` from the pods' own stages) moves the pre-warm lead and the
    scale-down window: push the ScaledObject (the only object they are in) now, saying so in
    the timeline."""
    before = manifests.scaled_object(endpoint)
    current = (
        Endpoint.objects.select_related("team", "model", "gpu_type", "offering")
        .filter(pk=endpoint.pk, generation=endpoint.generation)
        .first()
    )
    if current is None or current.cold_start_seconds == endpoint.cold_start_seconds:
        return
    after = manifests.scaled_object(current)
    if after["spec"] == before["spec"]:
        return
    client.apply([after])
    add_event(
        current,
        EventKind.INFO,
        f"Planned cold start now {coldstart.duration(current.cold_start_seconds)} "
        f"({coldstart_plans.plan_for_endpoint(current).sentence()}): pre-warm lead now "
        f"{manifests.prewarm_minutes(current)} min, scale-down window "
        f"{manifests.scale_down_window_seconds(current) // 60} min.",
    )


def _repair(client: ClusterClient, endpoint: Endpoint, problems: list[str]) -> int:
    """Put the endpoint's objects back as its current generation wants them.

    Like apply_endpoint, no row lock is held across the apiserver calls (each may wait
    KUBE_REQUEST_TIMEOUT), so a scale/edit/delete meanwhile never waits on the cluster: a plain
    read of the row, the push, then the timeline event written under the lock only if the
    generation is still the one pushed (compare-and-set). An edit that lands during the push
    bumps the generation and enqueues its own apply, which pushes the newer objects; if that
    apply already ran (its push may have landed before ours), the current objects are pushed
    once more, so the edit is never overwritten by the older repair."""
    generation = endpoint.generation
    for _attempt in range(2):
        current = _load(endpoint.pk)
        if not _repairable(current, generation):
            return 0
        client.apply(manifests.render(current))
        for obj in manifests.unwanted_objects(current):
            client.delete(obj)
        with transaction.atomic():
            latest = _load_locked(endpoint.pk)
            if latest is None:
                return 0
            if latest.generation == generation:
                add_event(latest, EventKind.DRIFT, "Drift repaired: " + "; ".join(problems) + ".")
                log.info("endpoint=%s drift repaired: %s", endpoint.pk, problems)
                return 1
        log.info(
            "endpoint=%s generation %s -> %s during the drift repair",
            endpoint.pk,
            generation,
            latest.generation,
        )
        # Only a newer generation that is already applied can have been overwritten by the
        # push above: one still in flight pushes after it (and a later sync repairs any
        # out-of-order push, as for apply_endpoint).
        generation = latest.generation
    return 0


def _repairable(current: Endpoint | None, generation: int) -> bool:
    return (
        current is not None
        and current.generation == generation
        and current.applied_generation == generation
        and current.desired_state != DesiredState.ABSENT
    )


def _repair_team_objects(client: ClusterClient, team) -> None:
    quota = manifests.resource_quota(team)
    have = client.get("v1", "ResourceQuota", quota["metadata"]["name"], team.namespace)
    if have is None or not _contains(quota["spec"], have.get("spec")):
        client.apply(manifests.team_objects(team))
        log.info("team=%s namespace/quota repaired", team.slug)


# Whose Warning events explain a replica that does not start (a ScaledObject of the same name
# has its own: KEDA's scaler errors are not why a pod is missing).
POD_EVENT_KINDS = ("Pod", "ReplicaSet", "Deployment")


def explain(endpoint: Endpoint, conditions_text: str, events: list[dict]) -> str:
    """Conditions plus the newest Warning events of the endpoint's pods and ReplicaSets."""
    prefix = f"{endpoint.isvc_name}-predictor"
    mine = [
        e
        for e in events
        if e.get("type") == "Warning"
        and (e.get("involvedObject") or {}).get("kind") in POD_EVENT_KINDS
        and ((e.get("involvedObject") or {}).get("name") or "").startswith(prefix)
    ]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", reverse=True)
    lines: list[str] = []
    for e in mine:
        text = e.get("message") or ""
        if "exceeded quota" in text:
            text = f"GPU quota exceeded: {text}"
        line = f"{e.get('reason')}: {text}"
        if line not in lines:
            lines.append(line)
        if len(lines) == 3:
            break
    return conditions_text + (" Events: " + " | ".join(lines) if lines else "")
