"""Recording each start of an endpoint's replicas and planning with them.

* `record_starts`: for every predictor pod that is Ready and not yet recorded, its stages
  (`coldstart.measure`, from the pod, its Node and Karpenter NodeClaim when one was launched
  for it) as a `ColdStart` row and one timeline line, plus one saying the node's capacity type
  and price (`node_cost`). Safe to run twice: one row per pod uid.
* `_replan`: the measured from-zero figure of the endpoint's model on its GPU
  (`coldstart_plans.plan_for_endpoint`), which its pre-warm lead, scale-down window and stuck
  flag use, written to `Endpoint.cold_start_seconds` (the estimate stands while it is empty).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.endpoints import coldstart, node_cost
from deployments.endpoints.choices import EventKind
from deployments.endpoints.coldstart_plans import plan_for_endpoint
from deployments.endpoints.models import ColdStart, Endpoint
from deployments.endpoints.services import add_event
from deployments.workloads.errors import PermanentClusterError

log = logging.getLogger(__name__)

NODECLAIM_API = "karpenter.sh/v1"
NODEPOOL_LABEL = "karpenter.sh/nodepool"


def recorded(pods: list[dict[str, Any]]) -> set[str]:
    """The uids among the Ready ``pods`` that already have a ColdStart row (one query, none
    when no pod is Ready): a namespace's sync asks once for all its endpoints."""
    ready = [p["metadata"].get("uid") for p in pods if coldstart.is_ready(p)]
    if not ready:
        return set()
    return set(ColdStart.objects.filter(pod_uid__in=ready).values_list("pod_uid", flat=True))


def unrecorded(pods: list[dict[str, Any]], seen: set[str] | None = None) -> list[dict[str, Any]]:
    """The Ready pods among ``pods`` with no ColdStart row yet."""
    seen = recorded(pods) if seen is None else seen
    return [
        p
        for p in pods
        if coldstart.is_ready(p) and p["metadata"].get("uid") and p["metadata"]["uid"] not in seen
    ]


def _node_and_claim(client, pod: dict[str, Any]) -> tuple[dict | None, dict | None]:
    """The pod's Node and, for a node Karpenter launched, its NodeClaim (None when unknown:
    no permission to read nodes, no Karpenter)."""
    name = (pod.get("spec") or {}).get("nodeName")
    if not name:
        return None, None
    try:
        node = client.get("v1", "Node", name)
    except PermanentClusterError as exc:
        log.info("node %s unreadable (%s): its stages are left out", name, exc)
        return None, None
    if node is None or NODEPOOL_LABEL not in ((node.get("metadata") or {}).get("labels") or {}):
        return node, None
    try:
        claims = client.list(NODECLAIM_API, "NodeClaim")
    except Exception as exc:  # no Karpenter CRDs in this cluster: the Node's times stand
        log.info("NodeClaims unreadable (%s): the node's creation stands for its launch", exc)
        return node, None
    claim = next((c for c in claims if (c.get("status") or {}).get("nodeName") == name), None)
    return node, claim


def record_starts(
    client, endpoint: Endpoint, pods: list[dict[str, Any]], seen: set[str] | None = None
) -> bool:
    """Record the new starts among ``pods`` (``seen``: uids already recorded, from
    `recorded`); True when the endpoint's planned cold start moved (its ScaledObject must be
    pushed again)."""
    new = unrecorded(pods, seen)
    if not new:
        return False
    accepted = False
    for pod in new:
        node, claim = _node_and_claim(client, pod)
        measured = coldstart.measure(pod, node, claim, not_before=endpoint.created_at)
        if measured is not None and _save(endpoint, measured):
            accepted = accepted or isinstance(measured, coldstart.Stages)
            _say_node_cost(endpoint, pod, node)
    return accepted and _replan(endpoint)


def _save(endpoint: Endpoint, measured: coldstart.Stages | coldstart.Unsupported) -> bool:
    row = ColdStart(
        endpoint=endpoint,
        model_id=endpoint.model_id,
        gpu_type_id=endpoint.gpu_type_id,
        pod_uid=measured.pod_uid,
        pod_name=measured.pod_name,
    )
    if isinstance(measured, coldstart.Stages):
        for field in (
            "node_name",
            "pending_at",
            "node_launched_at",
            "node_ready_at",
            "scheduled_at",
            "weights_ready_at",
            "engine_ready_at",
            "cached",
            "node_launched",
            "seconds",
        ):
            setattr(row, field, getattr(measured, field))
        row.accepted = True
    else:
        row.note = measured.reason[:300]
    try:
        with transaction.atomic():
            row.save()
            add_event(endpoint, EventKind.INFO, measured.sentence())
    except IntegrityError:
        return False  # another sync recorded this pod first
    log.info("endpoint=%s %s", endpoint.pk, measured.sentence())
    return True


def _say_node_cost(endpoint: Endpoint, pod: dict[str, Any], node: dict | None) -> None:
    """One timeline line per recorded start: the node's capacity type and the price used."""
    said = node_cost.cost_sentence(
        pod["metadata"].get("name", ""), str(endpoint.capacity_type), node, timezone.now()
    )
    if said:
        add_event(endpoint, EventKind.INFO, said)
        log.info("endpoint=%s %s", endpoint.pk, said)


def _replan(endpoint: Endpoint) -> bool:
    """Write the measured from-zero figure into `cold_start_seconds` (compare-and-set)."""
    plan = plan_for_endpoint(endpoint)
    if not plan.measured:
        return False
    changed = (
        Endpoint.objects.filter(pk=endpoint.pk)
        .exclude(cold_start_seconds=plan.from_zero_seconds)
        .update(cold_start_seconds=plan.from_zero_seconds)
    )
    return bool(changed)
