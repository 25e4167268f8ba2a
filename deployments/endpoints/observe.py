"""What the cluster says about an endpoint -> its status (PURE: reads the InferenceService,
its predictor Deployment and pods as plain dicts; no I/O). `status_from` is what
`sync_statuses` maps every observed object through."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.manifests import ANNOTATION_STOP, cold_start_seconds
from deployments.endpoints.schedule import in_working_hours, next_working_start

# KServe `modelStatus.lastFailureInfo.reason` values that no amount of waiting fixes.
TERMINAL_FAILURE_REASONS = {
    "ModelLoadFailed",
    "RuntimeDisabled",
    "NoSupportingRuntime",
    "RuntimeNotRecognized",
    "InvalidPredictorSpec",
    "InvalidWorkerSpecNotSet",
    "InvalidGPUAllocation",
}
CONDITION_ORDER = ["PredictorReady", "IngressReady", "LatestDeploymentReady", "Ready"]


@dataclass(frozen=True)
class Observed:
    status: str
    message: str
    url: str | None = None
    timeline: bool = False  # a step worth a timeline line even without a status change
    # The endpoint's pods as read (for the cold-start stages); not part of what is recorded.
    pods: tuple[dict, ...] = field(default=(), compare=False, repr=False)


def scaled_to_zero_message(endpoint, now: datetime) -> str:
    """What the page and the API say while no replica runs (Standard mode has no activator
    holding requests, so they fail until a replica is Ready)."""
    if endpoint.schedule_enabled and not in_working_hours(endpoint, now):
        back = next_working_start(endpoint, now)
        local_now = now.astimezone(back.tzinfo)
        when = back.strftime("%H:%M")
        if back.date() != local_now.date() and (back - local_now) >= timedelta(hours=24):
            when += back.strftime(" on %A")
        return (
            f"Scaled to zero (off-hours, back at {when} {endpoint.schedule_timezone}). "
            "Requests fail until then: in Standard mode nothing holds them while no replica runs."
        )
    return (
        "Scaled to zero: no replica is running. Requests fail until the autoscaler starts one "
        f"(about {max(1, round(cold_start_seconds(endpoint) / 60))} min from nothing)."
    )


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}


def status_from(
    obj: dict[str, Any],
    deployment: dict[str, Any] | None = None,
    *,
    endpoint=None,
    now: datetime | None = None,
    pods: list[dict[str, Any]] | None = None,
) -> Observed | None:
    """Map an InferenceService (dict) and its predictor Deployment to the endpoint status;
    None = no news yet.

    None means KServe has not caught up with what we applied (observedGeneration behind, or
    the stop annotation not yet reflected in the Stopped condition): keep the current status.

    What the KServe v0.20 controller does that this relies on (Standard mode):
    * `PredictorReady` follows the Deployment's `Available` condition, and `Ready` follows
      `PredictorReady` + `IngressReady`. A Deployment is Available with 0 replicas, and with
      one replica and `maxUnavailable: 1` even while that replica is still loading or being
      replaced, so `Ready=True` alone does not mean a replica serves: the Deployment's
      replica counts decide (`deployment`; `endpoint` and `now` word the scaled-to-zero text),
      or its pods' own Ready conditions when those are ahead of the counts (`_replicas`).
    * `modelStatus.lastFailureInfo` is never cleared once set; only `transitionStatus`
      (`BlockedByFailedLoad`, `InvalidSpec`) says the failure is current.
    * A Deployment the apiserver rejects shows as `PredictorReady=False`, reason
      `ReconcileFailed`, with the apiserver's message.
    * A model container in CrashLoopBackOff is not reported at all (recorded: `Ready=True`,
      `transitionStatus: UpToDate`, `Loaded`, because the Deployment is Available): the
      predictor pods (`pods`) are read for it, and with no replica ready it is FAILED.
    """
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    conditions = _conditions(obj)
    stop_wanted = (meta.get("annotations") or {}).get(ANNOTATION_STOP) == "true"
    stopped = (conditions.get("Stopped") or {}).get("status") == "True"
    if stop_wanted:
        return Observed(EndpointStatus.STOPPED, "Stopped.", "") if stopped else None
    if stopped:
        return None  # start applied, KServe still reports the old stop
    if not status:
        return Observed(EndpointStatus.PROVISIONING, "Waiting for the KServe controller.")
    observed_gen = status.get("observedGeneration")
    if observed_gen is not None and observed_gen < (meta.get("generation") or 0):
        return None
    failed = _failure(status, conditions)
    if failed:
        return failed
    url = status.get("url") or ""
    replicas = _replicas(deployment, pods)
    if replicas is not None and replicas["desired"] == 0:
        message = (
            scaled_to_zero_message(endpoint, now)
            if endpoint is not None and now is not None
            else "Scaled to zero: no replica is running; requests fail until one starts."
        )
        return Observed(EndpointStatus.SCALED_TO_ZERO, message, url)
    if (conditions.get("Ready") or {}).get("status") != "True":
        return Observed(EndpointStatus.PROVISIONING, not_ready_reasons(conditions))
    if replicas is None:
        return Observed(EndpointStatus.READY, "Serving.", url)
    desired, ready, updated = replicas["desired"], replicas["ready"], replicas["updated"]
    if replicas["behind"] or updated < desired:
        return Observed(
            EndpointStatus.PROVISIONING,
            f"Rolling out: {updated} of {desired} replicas updated, {ready} ready.",
            timeline=True,
        )
    if ready == 0:
        crash = crash_looping(pods or [])
        if crash:
            return Observed(EndpointStatus.FAILED, crash)
        return Observed(
            EndpointStatus.PROVISIONING,
            f"Starting: 0 of {desired} replicas ready (downloading or loading the model).",
        )
    if ready < desired:
        return Observed(
            EndpointStatus.READY, f"Serving ({ready} of {desired} replicas ready).", url
        )
    return Observed(EndpointStatus.READY, "Serving.", url)


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def transition_time(
    obj: dict[str, Any], status: str, pods: list[dict[str, Any]] | None = None
) -> datetime | None:
    """When the controllers made the endpoint `status`, by their own record (None: unknown).

    The InferenceService's `Ready` condition's lastTransitionTime; for READY also the last of
    its ready pods' `Ready` transitions (a replica that became ready after KServe's condition
    did, e.g. with a Deployment that is Available before its replica serves)."""
    times = [_time((_conditions(obj).get("Ready") or {}).get("lastTransitionTime"))]
    if status == EndpointStatus.READY:
        for pod in pods or []:
            for cond in (pod.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "Ready" and cond.get("status") == "True":
                    times.append(_time(cond.get("lastTransitionTime")))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _failure(status: dict[str, Any], conditions: dict[str, dict[str, Any]]) -> Observed | None:
    model_status = status.get("modelStatus") or {}
    failure = model_status.get("lastFailureInfo") or {}
    transition = model_status.get("transitionStatus")
    if transition == "InvalidSpec" or (
        transition == "BlockedByFailedLoad" and failure.get("reason") in TERMINAL_FAILURE_REASONS
    ):
        text = failure.get("message") or failure.get("reason") or "KServe reports an invalid spec."
        return Observed(EndpointStatus.FAILED, f"{failure.get('reason', 'Failed')}: {text}")
    predictor = conditions.get("PredictorReady") or {}
    if (
        predictor.get("status") == "False"
        and predictor.get("reason") == "ReconcileFailed"
        and "is invalid" in (predictor.get("message") or "")
    ):
        return Observed(
            EndpointStatus.FAILED, f"KServe cannot create the predictor: {predictor['message']}"
        )
    return None


MODEL_CONTAINERS = ("kserve-container", "storage-initializer")


def crash_looping(pods: list[dict[str, Any]]) -> str | None:
    """Why the model (or its download) keeps crashing, from the pods' container statuses."""
    for pod in pods:
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if (
                cs.get("name") not in MODEL_CONTAINERS
                or waiting.get("reason") != "CrashLoopBackOff"
            ):
                continue
            last = (cs.get("lastState") or {}).get("terminated") or {}
            what = "The model download" if cs["name"] == "storage-initializer" else "vLLM"
            detail = last.get("reason") or "exited"
            if last.get("exitCode") is not None:
                detail += f", exit code {last['exitCode']}"
            if last.get("message"):
                detail += f": {last['message']}"
            return (
                f"{what} keeps crashing ({detail}; restarted {cs.get('restartCount', 0)} "
                f"times) in pod {(pod.get('metadata') or {}).get('name')}."
            )
    return None


def _replicas(
    deployment: dict[str, Any] | None, pods: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """Desired/ready/updated replicas of the predictor Deployment (None: not known).

    Under a burst the Deployment's `readyReplicas` trails its pods' own Ready conditions by
    as long as the ReplicaSet and Deployment controllers take to write them (48.8 s at p95
    with 1,000 endpoints starting at once: bench/README.md, P6). Once the Deployment's status
    at its current generation says every active pod is of the current template (`updated` ==
    `replicas` >= desired), the ready pods it owns (through a ReplicaSet of its name, not
    being deleted) are counted directly."""
    if not deployment:
        return None
    meta = deployment.get("metadata") or {}
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = spec.get("replicas")
    desired = 1 if desired is None else int(desired)
    behind = (status.get("observedGeneration") or 0) < (meta.get("generation") or 0)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    if pods and not behind and updated >= desired and int(status.get("replicas") or 0) <= updated:
        owned = [p for p in pods if _owned_by(p, meta.get("name") or "")]
        ready = max(ready, min(desired, sum(1 for p in owned if _pod_ready(p))))
    return {"desired": desired, "ready": ready, "updated": updated, "behind": behind}


def _owned_by(pod: dict[str, Any], deployment_name: str) -> bool:
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp") or not deployment_name:
        return False
    return any(
        ref.get("kind") == "ReplicaSet"
        and (ref.get("name") or "").rpartition("-")[0] == deployment_name
        for ref in meta.get("ownerReferences") or []
    )


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def not_ready_reasons(conditions: dict[str, dict[str, Any]]) -> str:
    parts = []
    for ctype in CONDITION_ORDER:
        cond = conditions.get(ctype)
        if cond and cond.get("status") != "True":
            detail = cond.get("message") or cond.get("reason") or cond.get("status")
            parts.append(f"{ctype}: {detail}")
    return "; ".join(parts) or "Waiting for the predictor to become ready."
