"""Why a pending replica has no node yet, in Karpenter's terms (pure: reads cluster objects).

From the pending pods' events (Karpenter's ``Nominated`` "Pod should schedule on:
nodeclaim/<name>" and its ``FailedScheduling`` "Failed to schedule pod, <why>"), the NodeClaims
and the NodePools, one sentence the endpoint's status message starts with:

* a node on its way: "Karpenter is launching a g6e.xlarge spot node (40 s ago)", then
  "... node is up, waiting for it to register/become ready" as the NodeClaim's conditions move;
* none can be launched: the pool's GPU limit is reached ("pool modelport-gpu-g6e-spot has
  reached its GPU limit: 4 of 4 GPUs in use"), no pool allows the type ("no GPU node pool
  allows a g6e.xlarge spot node"), or the cloud has no capacity ("spot capacity for g6e.xlarge
  is unavailable").

A replica Karpenter took off a terminating node (its ``Disrupted`` / ``Evicted`` event on an
older pod of the endpoint, in the last ``DISRUPTION_WINDOW_SECONDS``) is said first: "Karpenter
removed a replica from a node it was terminating (a spot interruption or a node deletion) 35 s
ago."

Returns "" when Karpenter said nothing about the pods (then the scheduler's own reasons stand).
"""

from __future__ import annotations

import re
from datetime import datetime

from deployments.nodepools.manifests import (
    CAPACITY_TYPE_LABEL,
    GPU_RESOURCE,
    INSTANCE_TYPE_LABEL,
)

NOMINATED_RE = re.compile(r"nodeclaim/([a-z0-9.-]+)")
LIMIT_RE = re.compile(r"exceed limits for nodepool.*?NodePool=\"?([a-z0-9.-]+)", re.S)
POOL_NAME_RE = re.compile(r"nodepool[ =:/\"]+\"?([a-z0-9.-]+)", re.I)
DISRUPTION_REASONS = ("Disrupted", "Evicted")
DISRUPTION_WINDOW_SECONDS = 600


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _ago_words(then: datetime, now: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    return (f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min") + " ago"


def _ago(then: datetime | None, now: datetime) -> str:
    return f" ({_ago_words(then, now)})" if then is not None else ""


def _is_karpenter(event: dict) -> bool:
    source = (event.get("source") or {}).get("component") or ""
    return "karpenter" in source or "karpenter" in (event.get("reportingComponent") or "")


def _event_time(event: dict) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


def _condition(obj: dict, kind: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c.get("status")
    return None


def _wanted(pod: dict) -> tuple[str, str]:
    """(instance type, capacity type) the pod's nodeSelector asks for ("" when it does not)."""
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    capacity = selector.get(CAPACITY_TYPE_LABEL, "")
    if not capacity:
        affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
        terms = (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
            "nodeSelectorTerms"
        ) or []
        for term in terms:
            for expr in term.get("matchExpressions") or []:
                if expr.get("key") == CAPACITY_TYPE_LABEL:
                    capacity = " or ".join(expr.get("values") or [])
    return selector.get(INSTANCE_TYPE_LABEL, ""), capacity


def _node_phrase(instance_type: str, capacity: str) -> str:
    words = " ".join(w for w in (instance_type, capacity) if w)
    return f"{words} node" if words else "GPU node"


def _launching(claim: dict, now: datetime) -> str:
    labels = (claim.get("metadata") or {}).get("labels") or {}
    instance = labels.get(INSTANCE_TYPE_LABEL, "")
    if not instance:
        for req in (claim.get("spec") or {}).get("requirements") or []:
            if req.get("key") == INSTANCE_TYPE_LABEL and len(req.get("values") or []) == 1:
                instance = req["values"][0]
    capacity = labels.get(CAPACITY_TYPE_LABEL, "")
    node = _node_phrase(instance, capacity)
    article = "an" if node[:1] in "aeiou" else "a"
    since = _ago(_parse_time((claim.get("metadata") or {}).get("creationTimestamp")), now)
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        return f"Karpenter is removing the {node} it launched for this replica{since}."
    if _condition(claim, "Initialized") == "True":
        name = (claim.get("status") or {}).get("nodeName") or ""
        return f"Karpenter's {node} {name} is ready{since}; the scheduler is placing the replica."
    if _condition(claim, "Registered") == "True":
        return f"Karpenter launched {article} {node}{since}; it is joining the cluster."
    return f"Karpenter is launching {article} {node}{since}."


def _pool_limit(name: str, pools: dict[str, dict]) -> str:
    pool = pools.get(name) or {}
    limit = ((pool.get("spec") or {}).get("limits") or {}).get(GPU_RESOURCE)
    used = ((pool.get("status") or {}).get("resources") or {}).get(GPU_RESOURCE)
    if limit is None:
        return f"Node pool {name} has reached its limit: Karpenter launches no node in it."
    figures = f"{used} of {limit}" if used is not None else f"limit {limit}"
    return (
        f"Node pool {name} has reached its GPU limit ({figures} GPUs in use): Karpenter "
        f"launches no node until a GPU in the pool is freed or the platform team raises "
        f"the ceiling."
    )


def _disruption(events: list[dict], prefix: str, pending: set, now: datetime) -> str:
    """ "Karpenter removed a replica ..." for its newest Disrupted/Evicted event on an older pod
    whose name starts with ``prefix`` (recent ones only)."""
    if not prefix:
        return ""
    for event in sorted(events, key=_event_time, reverse=True):
        obj = event.get("involvedObject") or {}
        name = obj.get("name") or ""
        if (
            obj.get("kind") != "Pod"
            or not name.startswith(prefix)
            or name in pending
            or event.get("reason") not in DISRUPTION_REASONS
            or not _is_karpenter(event)
        ):
            continue
        when = _parse_time(_event_time(event))
        if when is None or (now - when).total_seconds() > DISRUPTION_WINDOW_SECONDS:
            return ""
        return (
            "Karpenter removed a replica from a node it was terminating (a spot interruption "
            f"or a node deletion) {_ago_words(when, now)}. "
        )
    return ""


def explain_pending(
    pods: list[dict],
    events: list[dict],
    nodeclaims: list[dict],
    nodepools: list[dict],
    now: datetime,
    prefix: str = "",
) -> str:
    """One sentence on the node side of the endpoint's pending pods ("" if Karpenter is
    silent about them); ``prefix`` (the predictor pods' name prefix) also finds a replica
    Karpenter took off a terminating node."""
    names = {
        (p.get("metadata") or {}).get("name")
        for p in pods
        if (p.get("status") or {}).get("phase") == "Pending"
    }
    before = _disruption(events, prefix, names, now)
    text = _explain(pods, events, nodeclaims, nodepools, now)
    return f"{before}{text}" if text else before.strip()


def _explain(pods, events, nodeclaims, nodepools, now) -> str:
    pending = [p for p in pods if (p.get("status") or {}).get("phase") == "Pending"]
    pending = [p for p in pending if not (p.get("spec") or {}).get("nodeName")]
    if not pending:
        return ""
    names = {(p.get("metadata") or {}).get("name") for p in pending}
    claims = {(c.get("metadata") or {}).get("name"): c for c in nodeclaims}
    pools = {(p.get("metadata") or {}).get("name"): p for p in nodepools}
    mine = [
        e
        for e in events
        if (e.get("involvedObject") or {}).get("kind") == "Pod"
        and (e.get("involvedObject") or {}).get("name") in names
        and _is_karpenter(e)
    ]
    mine.sort(key=_event_time, reverse=True)
    instance, capacity = _wanted(pending[0])
    for event in mine:
        reason, text = event.get("reason") or "", event.get("message") or ""
        if reason == "Nominated":
            for claim_name in NOMINATED_RE.findall(text):
                if claim_name in claims:
                    return _launching(claims[claim_name], now)
            continue  # the NodeClaim is gone (deleted, interrupted): an older event decides
        if reason != "FailedScheduling":
            continue
        lowered = text.lower()
        if "exceed limits for nodepool" in lowered:
            match = LIMIT_RE.search(text) or POOL_NAME_RE.search(text)
            return _pool_limit(match.group(1) if match else "?", pools)
        if "insufficient capacity" in lowered or "insufficientcapacity" in lowered:
            return (
                f"{(capacity or 'The').capitalize()} capacity for {instance or 'this GPU'} is "
                f"unavailable in the cloud right now: Karpenter retries (and takes on-demand "
                f"when the endpoint allows the fallback)."
            )
        return (
            f"No GPU node pool allows {'an' if instance[:1] in 'aeiou' else 'a'} "
            f"{_node_phrase(instance, capacity)}: Karpenter cannot launch one "
            f"(Karpenter: {text})."
        )
    return ""
