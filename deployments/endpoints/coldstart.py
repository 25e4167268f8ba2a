"""A replica's start, stage by stage, from its own pod (PURE: plain dicts in, no I/O, no clock).

    pending ─(node launched ─ node ready)─ scheduled ─ weights ready ─ engine ready
    pod created   NodeClaim/Node, only     PodScheduled  storage-initializer   pod Ready
                  when a node was launched  True          terminated (absent:
                  for this pod                             no download: cached)

A start is measured only from the pod's own timestamps (`creationTimestamp`, the
`PodScheduled` and `Ready` transitions, the init container's `finishedAt`), never from how long
the endpoint sat in a status: an endpoint that sat in Provisioning while its cluster was
recreated has a status an hour old and a pod seconds old. A figure the stages do not support
(`Unsupported`: a stage missing, stages out of order, longer than `MAX_COLD_START_SECONDS`, a
pod older than the endpoint, an engine that restarted) is kept with its reason and never
steers autoscaling.

`plan` turns past starts of a model on a GPU into what a scale-from-zero costs in time: the
95th percentile of measured starts (from zero: a node launched for the pod; warm: the node was
there), else the sizing estimate, and says which.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deployments.workloads import sizing

# A start longer than this is not a start: a pod that was Ready, lost readiness and came back,
# a clock step, a pod adopted from an older cluster. Generous: a 405B download + load fits.
MAX_COLD_START_SECONDS = 2 * 3600
# A node created up to this long before its pod (the pod's controller retried) still counts as
# launched for it: Karpenter launches for pending pods, so the node is younger than the pod.
NODE_SLACK_SECONDS = 0
STORAGE_INITIALIZER = "storage-initializer"
ENGINE_CONTAINER = "kserve-container"
# KServe labels a predictor pod whose storageUri matches a LocalModelCache (no download).
LOCAL_MODEL_LABEL = "internal.serving.kserve.io/localmodel"
PERCENTILES = (50, 95)
STAGE_NAMES = {
    "node_launched": "node launched",
    "node_ready": "node ready",
    "scheduled": "scheduled",
    "weights_ready": "weights ready",
    "engine_ready": "engine ready",
}


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes RFC 3339 timestamp (``2026-12-06T06:40:00Z``) -> aware datetime."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class Stages:
    """The measured stages of one start (aware datetimes; node ones None when the node was
    already there, weights_ready None when nothing was downloaded)."""

    pod_uid: str
    pod_name: str
    node_name: str
    pending_at: datetime
    scheduled_at: datetime
    engine_ready_at: datetime
    node_launched_at: datetime | None = None
    node_ready_at: datetime | None = None
    weights_ready_at: datetime | None = None
    cached: bool = False

    @property
    def seconds(self) -> int:
        return int((self.engine_ready_at - self.pending_at).total_seconds())

    @property
    def node_launched(self) -> bool:
        return self.node_launched_at is not None

    def steps(self) -> list[tuple[str, int]]:
        """(stage, seconds since the previous stage) in order, present stages only."""
        out, previous = [], self.pending_at
        for field in STAGE_NAMES:
            at = getattr(self, f"{field}_at")
            if at is None:
                continue
            out.append((STAGE_NAMES[field], int((at - previous).total_seconds())))
            previous = at
        return out

    def sentence(self) -> str:
        steps = " → ".join(f"{name} +{duration(s)}" for name, s in self.steps())
        where = "on a new node" if self.node_launched else "on a node already there"
        cache = ", weights from the node's model cache" if self.cached else ""
        return f"Start of pod {self.pod_name} {where}{cache}: {duration(self.seconds)} (pending → {steps})."


@dataclass(frozen=True)
class Unsupported:
    """A Ready pod whose stages give no trustworthy figure, and why."""

    pod_uid: str
    pod_name: str
    reason: str

    def sentence(self) -> str:
        return f"Start of pod {self.pod_name} not measured: {self.reason}."


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def _container(statuses: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((s for s in statuses if s.get("name") == name), None)


def is_ready(pod: Mapping[str, Any]) -> bool:
    return _condition(pod, "Ready") is not None


def _node_stages(
    node: Mapping[str, Any] | None,
    nodeclaim: Mapping[str, Any] | None,
    pending_at: datetime,
) -> tuple[datetime | None, datetime | None]:
    """(launched, ready) when the node was launched for this pod, else (None, None)."""
    if not node:
        return None, None
    created = parse_time((node.get("metadata") or {}).get("creationTimestamp"))
    launched = parse_time(((nodeclaim or {}).get("metadata") or {}).get("creationTimestamp"))
    launched = launched or created
    if launched is None or (pending_at - launched).total_seconds() > NODE_SLACK_SECONDS:
        return None, None  # the node was there before the pod
    ready = parse_time((_condition(node, "Ready") or {}).get("lastTransitionTime"))
    return launched, ready


def measure(
    pod: Mapping[str, Any],
    node: Mapping[str, Any] | None = None,
    nodeclaim: Mapping[str, Any] | None = None,
    *,
    not_before: datetime | None = None,
) -> Stages | Unsupported | None:
    """The stages of a Ready pod's start (None: the pod is not Ready, nothing to measure).

    ``node``/``nodeclaim``: the pod's Node and Karpenter NodeClaim when known; ``not_before``:
    the endpoint's creation (a pod older than that is not a start of this endpoint)."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    ready = _condition(pod, "Ready")
    if ready is None:
        return None
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")

    def refuse(reason: str) -> Unsupported:
        return Unsupported(uid, name, reason)

    pending_at = parse_time(meta.get("creationTimestamp"))
    scheduled_at = parse_time((_condition(pod, "PodScheduled") or {}).get("lastTransitionTime"))
    ready_at = parse_time(ready.get("lastTransitionTime"))
    for label, at in (("created", pending_at), ("scheduled", scheduled_at), ("ready", ready_at)):
        if at is None:
            return refuse(f"the pod has no '{label}' time")
    # Kubernetes stamps whole seconds: a pod made in the endpoint's own second is not older.
    if not_before is not None and pending_at < not_before.replace(microsecond=0):
        return refuse("the pod is older than the endpoint (left from before)")
    engine = _container(status.get("containerStatuses") or [], ENGINE_CONTAINER) or {}
    if int(engine.get("restartCount") or 0) > 0:
        return refuse("the engine restarted during the start")
    init = _container(status.get("initContainerStatuses") or [], STORAGE_INITIALIZER)
    weights_at = None
    if init is not None:
        done = (init.get("state") or {}).get("terminated") or {}
        weights_at = parse_time(done.get("finishedAt"))
        if weights_at is None:
            return refuse("the download (storage-initializer) has no finish time")
    launched, node_ready = _node_stages(node, nodeclaim, pending_at)
    stages = Stages(
        pod_uid=uid,
        pod_name=name,
        node_name=str((pod.get("spec") or {}).get("nodeName") or ""),
        pending_at=pending_at,
        scheduled_at=scheduled_at,
        engine_ready_at=ready_at,
        node_launched_at=launched,
        node_ready_at=node_ready if launched else None,
        weights_ready_at=weights_at,
        cached=LOCAL_MODEL_LABEL in (meta.get("labels") or {}),
    )
    if any(s < 0 for _, s in stages.steps()):
        order = " → ".join(n for n, _ in stages.steps())
        return refuse(f"its stages are out of order (pending → {order})")
    if stages.seconds > MAX_COLD_START_SECONDS:
        return refuse(
            f"{duration(stages.seconds)} is longer than any start "
            f"({duration(MAX_COLD_START_SECONDS)} at most)"
        )
    return stages


def duration(seconds: int) -> str:
    """``42 s``, ``3 min 12 s``, ``57 min``, ``1 h 5 min``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def rounded(seconds: int) -> str:
    """How the form speaks of a start: ``40 s`` under two minutes, else whole minutes up."""
    if seconds < 120:
        return f"{int(seconds)} s"
    return f"{math.ceil(seconds / 60)} min"


def percentile(values: Iterable[int], q: int) -> int | None:
    """Nearest-rank percentile (an observed value, never interpolated); None when empty."""
    ordered = sorted(int(v) for v in values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Sample:
    """One accepted start as `plan` reads it."""

    seconds: int
    node_launched: bool


@dataclass(frozen=True)
class Plan:
    from_zero_seconds: int  # no replica and no node: what the pre-warm lead must cover
    warm_seconds: int  # no replica, a node with a free GPU already there
    source: str  # "measured" | "measured on warm nodes" | "estimated"
    samples: int
    p50_seconds: int | None = None
    p95_seconds: int | None = None

    @property
    def measured(self) -> bool:
        return self.source != "estimated"

    def sentence(self) -> str:
        text = (
            f"about {rounded(self.from_zero_seconds)} from zero for this model on this GPU, "
            f"{rounded(self.warm_seconds)} when a node is warm"
        )
        if self.source == "measured":
            how = f"measured: p95 of {self.samples} start{'s' if self.samples != 1 else ''}"
        elif self.source == "measured on warm nodes":
            how = (
                f"measured on warm nodes (p95 of {self.samples} start"
                f"{'s' if self.samples != 1 else ''}) plus an estimated node launch"
            )
        else:
            how = "estimated from the model size: no start measured yet"
        return f"{text} ({how})"


def estimate(resources: sizing.PodResources) -> tuple[int, int]:
    """(from zero, warm node) from the sizing estimate: a warm node has the image."""
    node = sizing.NODE_SECONDS + sizing.IMAGE_PULL_SECONDS
    return resources.cold_start_seconds, max(1, resources.cold_start_seconds - node)


def plan(samples: list[Sample], resources: sizing.PodResources) -> Plan:
    """What a start costs, from the accepted past starts of a model on a GPU."""
    est_zero, est_warm = estimate(resources)
    if not samples:
        return Plan(est_zero, est_warm, "estimated", 0)
    all_seconds = [s.seconds for s in samples]
    p50, p95 = (percentile(all_seconds, q) for q in PERCENTILES)
    cold = [s.seconds for s in samples if s.node_launched]
    warm = [s.seconds for s in samples if not s.node_launched]
    warm95 = percentile(warm, 95)
    if cold:
        cold95 = percentile(cold, 95)
        return Plan(cold95, warm95 or min(cold95, est_warm), "measured", len(samples), p50, p95)
    node = sizing.NODE_SECONDS + sizing.IMAGE_PULL_SECONDS
    return Plan(warm95 + node, warm95, "measured on warm nodes", len(samples), p50, p95)
