"""Push desired state to the cluster and read the observed state back (STYLE §4.3-4.6).

The Celery tasks in `deployments.endpoints.tasks` are one-line wrappers around the two functions here:

`apply_endpoint(endpoint_id, generation)`
    A plain read: skip when the row is gone, the generation is no longer current, it was
    already applied, or the endpoint is not approved. Otherwise server-side-apply the rendered
    manifests (or delete the endpoint's objects when it is ABSENT), then compare-and-set
    `applied_generation` and record the new status in one UPDATE that a superseded or
    duplicate apply cannot pass. No row lock is held across an apiserver call (here or in the
    drift repair), so scale/edit/delete never wait on the cluster. Transient cluster errors
    propagate (Celery retries them with jittered backoff); permanent ones mark the endpoint
    FAILED with the apiserver's message.

`sync_statuses()`
    One label-selected list per namespace and kind. For every endpoint: map the InferenceService
    to a status (`observe.status_from`) and record changes (`services.record_observed` keeps
    the time spent in the previous status, e.g. the cold start); explain a non-ready endpoint
    (conditions + Warning events of its pods, quota refusals); put back objects that are missing
    or were edited by hand ("Drift repaired" in the timeline); and re-enqueue applies that were
    lost (worker killed, broker lost the message) once they are `KUBE_REAPPLY_AFTER_SECONDS` old.

Embedded dev mode (no KUBECONFIG and not in a cluster): nothing is applied. A present endpoint
is NOT_DEPLOYED ("no cluster connected", neutral and final, so the UI stops polling; its
manifests are still viewable), a stopped one STOPPED and a deleted one DELETED, since
nothing of it can exist anywhere. `applied_generation` is left behind for present endpoints, so
once a cluster is configured `sync_statuses` applies them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from deployments.endpoints import manifests, observe
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.models import Endpoint
from deployments.endpoints.names import APPLY_ENDPOINT
from deployments.endpoints.services import add_event, record_applied, record_observed
from deployments.k8s import ClusterClient, cluster_configured
from deployments.workloads import labels
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import PermanentClusterError, TransientClusterError
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


# --- apply ----------------------------------------------------------------------------------


def apply_endpoint(endpoint_id: int, generation: int) -> str:
    """Apply one generation of an endpoint; returns what happened (for logs and tests)."""
    # No row lock is held across the apiserver calls (up to four, each with
    # KUBE_REQUEST_TIMEOUT), so scale/edit/delete never wait on the cluster: a plain read, the
    # push, then one compare-and-set UPDATE on generation (record_applied) that a superseded
    # or duplicate apply cannot pass.
    endpoint = _load(endpoint_id)
    skip = _skip_reason(endpoint, generation)
    if skip:
        log.info("endpoint=%s generation=%s skipped: %s", endpoint_id, generation, skip)
        return skip
    if not cluster_configured():
        with transaction.atomic():
            return _apply_embedded(endpoint, generation)
    kind, outcome = EventKind.STATUS, None
    try:
        target, message = _push(ClusterClient.from_settings(), endpoint)
    except PermanentClusterError as exc:
        target, message, kind, outcome = EndpointStatus.FAILED, str(exc), EventKind.ERROR, "failed"
        log.warning("endpoint=%s generation=%s failed: %s", endpoint_id, generation, exc)
    except TransientClusterError as exc:
        # updated_at marks the attempt: the safety net in sync_statuses only re-enqueues
        # applies nobody has tried for KUBE_REAPPLY_AFTER_SECONDS (no pile-up while retrying).
        Endpoint.objects.filter(pk=endpoint_id, generation=generation).update(
            status_message=f"Cluster not reachable, retrying: {exc}", updated_at=timezone.now()
        )
        log.warning("endpoint=%s generation=%s transient: %s", endpoint_id, generation, exc)
        raise
    with transaction.atomic():
        if not _record_applied(endpoint, generation, target, message, kind):
            # A newer generation (its own apply follows) or a duplicate run got there first;
            # sync_statuses repairs any drift an out-of-order push left behind.
            log.info("endpoint=%s generation=%s superseded after push", endpoint_id, generation)
            return "superseded"
    if outcome:
        return outcome
    log.info("endpoint=%s generation=%s applied -> %s", endpoint_id, generation, target)
    return "deleted" if target == EndpointStatus.DELETED else "applied"


def _skip_reason(endpoint: Endpoint | None, generation: int) -> str | None:
    if endpoint is None:
        return "gone"
    if endpoint.generation != generation:
        return "stale"
    if endpoint.applied_generation >= generation:
        return "already-applied"
    if endpoint.status in NOT_APPROVED or endpoint.status == EndpointStatus.DELETED:
        return "not-applicable"
    return None


def _push(client: ClusterClient, endpoint: Endpoint) -> tuple[str, str]:
    """Make the cluster match the endpoint; return (status, message) to record."""
    try:
        manifests.check_renderable(endpoint)
    except manifests.ManifestError as exc:
        raise PermanentClusterError(str(exc)) from exc
    if endpoint.desired_state == DesiredState.ABSENT:
        gone = [
            obj for obj in reversed(manifests.removable_objects(endpoint)) if client.delete(obj)
        ]
        return EndpointStatus.DELETED, (
            f"Deleted {', '.join(o['kind'] for o in gone)}." if gone else "Nothing left to delete."
        )
    client.apply(manifests.render(endpoint), reuse_kinds=TEAM_KINDS)
    for obj in manifests.unwanted_objects(endpoint):
        client.delete(obj)  # e.g. the PDB once the endpoint may only run one replica
    if endpoint.desired_state == DesiredState.STOPPED:
        return EndpointStatus.STOPPED, f"Stop applied (generation {endpoint.generation})."
    return EndpointStatus.PROVISIONING, (
        f"Applied generation {endpoint.generation}; waiting for KServe to roll it out."
    )


def _record_applied(
    endpoint: Endpoint, generation: int, status: str, message: str, kind: str = EventKind.STATUS
) -> bool:
    # One compare-and-set UPDATE on generation (and applied_generation): no lock needed.
    return record_applied(endpoint, generation, status, message, kind)


def _apply_embedded(endpoint: Endpoint, generation: int) -> str:
    if endpoint.desired_state == DesiredState.PRESENT:
        # One notice per endpoint: after a Start the status returns to Not deployed quietly.
        told = endpoint.events.filter(new_status=EndpointStatus.NOT_DEPLOYED).exists()
        record_observed(
            endpoint.pk,
            EndpointStatus.NOT_DEPLOYED,
            NO_CLUSTER_MESSAGE,
            generation=generation,
            event=not told,
        )
        return "no-cluster"
    target = (
        EndpointStatus.DELETED
        if endpoint.desired_state == DesiredState.ABSENT
        else EndpointStatus.STOPPED
    )
    _record_applied(endpoint, generation, target, "No cluster configured; nothing to change.")
    return "no-cluster"


# --- observe and reconcile --------------------------------------------------------------------


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


SYNC_LOCK = "deployments:sync-statuses:running"


def sync_statuses() -> int:
    """Observe every live endpoint; returns how many endpoints changed (status or repair).
    Runs once at a time: a run that starts while another is still working returns at once
    (a lock in the shared cache, expiring after SYNC_STATUSES_LOCK_SECONDS if a run dies)."""
    if not cluster_configured():
        log.info("sync_statuses: no cluster configured; nothing to observe")
        return 0
    if not cache.add(SYNC_LOCK, 1, settings.SYNC_STATUSES_LOCK_SECONDS):
        log.info("sync_statuses: another run is still working; skipped")
        return 0
    try:
        return _sync_all()
    finally:
        cache.delete(SYNC_LOCK)


def _sync_all() -> int:
    client = ClusterClient.from_settings()
    by_namespace: dict[str, list[Endpoint]] = defaultdict(list)
    live = (
        Endpoint.objects.exclude(status__in=[*NOT_APPROVED, EndpointStatus.DELETED])
        .exclude(status=EndpointStatus.APPROVED, applied_generation=0)
        .select_related("team", "model", "gpu_type", "offering")
    )
    for endpoint in live:
        by_namespace[endpoint.namespace].append(endpoint)
    changed = _requeue_lost_applies()
    for namespace, endpoints in by_namespace.items():
        try:
            changed += _sync_namespace_rebinding(client, namespace, endpoints)
        except TransientClusterError as exc:
            log.warning("sync_statuses namespace=%s: %s; next run retries", namespace, exc)
    return changed


def _sync_namespace_rebinding(client: ClusterClient, namespace: str, endpoints) -> int:
    """A 403 in a team namespace means the portal's RoleBindings there are missing (a namespace
    from before the chart bound them, or one deleted by hand): apply the team's objects (the
    bindings first), then observe once more."""
    try:
        return _sync_namespace(client, namespace, endpoints)
    except PermanentClusterError as exc:
        if getattr(exc, "status", None) != 403 or not settings.KUBE_TEAM_ROLE_BINDINGS:
            raise
        log.warning(
            "sync_statuses namespace=%s: %s; binding the portal's roles again", namespace, exc
        )
        client.apply(manifests.team_objects(endpoints[0].team))
        return _sync_namespace(client, namespace, endpoints)


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


def _sync_namespace(client: ClusterClient, namespace: str, endpoints: list[Endpoint]) -> int:
    isvcs = _by_uuid(
        client.list(manifests.ISVC_API, "InferenceService", namespace, labels.MANAGED_SELECTOR)
    )
    scaled = _by_uuid(
        client.list(manifests.KEDA_API, "ScaledObject", namespace, labels.MANAGED_SELECTOR)
    )
    budgets = _by_uuid(
        client.list(manifests.PDB_API, "PodDisruptionBudget", namespace, labels.MANAGED_SELECTOR)
    )
    # Made by KServe from the InferenceService, whose labels it copies: replica counts.
    deployments = _by_uuid(client.list("apps/v1", "Deployment", namespace, labels.MANAGED_SELECTOR))
    pods_by_uuid: dict[str, list[dict]] = defaultdict(list)
    for pod in client.list("v1", "Pod", namespace, labels.MANAGED_SELECTOR):
        uuid = (pod["metadata"].get("labels") or {}).get(manifests.LABEL_ENDPOINT_UUID)
        pods_by_uuid[uuid].append(pod)
    now = timezone.now()
    _repair_team_objects(client, endpoints[0].team)
    events: list[dict] | None = None
    changed = 0
    for endpoint in endpoints:
        if endpoint.applied_generation < endpoint.generation:
            continue  # an apply is in flight (or lost: _requeue_lost_applies handles it)
        if endpoint.desired_state == DesiredState.ABSENT:
            continue
        key = str(endpoint.uuid)
        isvc = isvcs.get(key)
        if endpoint.status == EndpointStatus.FAILED and isvc is None:
            continue  # the apply itself failed; a person must change the request
        problems = drift(
            endpoint,
            {
                "InferenceService": isvc,
                "ScaledObject": scaled.get(key),
                "PodDisruptionBudget": budgets.get(key),
            },
        )
        if problems:
            changed += _repair(client, endpoint, problems)
            continue
        observed = observe.status_from(
            isvc, deployments.get(key), endpoint=endpoint, now=now, pods=pods_by_uuid.get(key)
        )
        if observed is None:
            continue
        message = observed.message
        if observed.status == EndpointStatus.PROVISIONING:
            if events is None:
                events = client.events(namespace)
            message = explain(endpoint, observed.message, events)
            message = _missing_token(client, endpoint) + message
        if record_observed(
            endpoint.pk,
            observed.status,
            message,
            observed.url,
            generation=endpoint.generation,
            kind=EventKind.INFO if observed.timeline else EventKind.STATUS,
        ):
            changed += 1
            if observed.status == EndpointStatus.READY:
                follow_cold_start(client, endpoint)
    return changed


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
    """A new measured cold start moves the pre-warm lead and the scale-down window: push the
    ScaledObject (the only object they are in) now, saying so in the timeline."""
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
    minutes = round(current.cold_start_seconds / 60)
    add_event(
        current,
        EventKind.INFO,
        f"Measured cold start {minutes} min: pre-warm lead now "
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
