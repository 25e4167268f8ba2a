"""What the node a replica runs on costs, said on the endpoint's timeline (PURE but for the
price look-up, which is `catalog.pricing.node_hourly_price`).

The capacity type is read from the Node, not from the endpoint: Karpenter's
``karpenter.sh/capacity-type`` label (else the EKS managed node group's
``eks.amazonaws.com/capacityType``), so a spot endpoint that fell back to on-demand shows the
on-demand price, as billing charges it (`billing.services.usage.fetch.node_capacity_type`
reads the same labels from kube-state-metrics).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from catalog.choices import CapacityType
from catalog.pricing import node_hourly_price
from portal.templatetags.portal import money

CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
EKS_CAPACITY_TYPE_LABEL = "eks.amazonaws.com/capacityType"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
_EKS = {"ON_DEMAND": CapacityType.ON_DEMAND, "SPOT": CapacityType.SPOT}


def node_capacity(node: dict[str, Any] | None) -> tuple[str, str]:
    """(instance type, capacity type) of a Node from its labels; "" for what it does not say."""
    labels = ((node or {}).get("metadata") or {}).get("labels") or {}
    capacity = labels.get(CAPACITY_TYPE_LABEL) or _EKS.get(
        labels.get(EKS_CAPACITY_TYPE_LABEL, ""), ""
    )
    return labels.get(INSTANCE_TYPE_LABEL, ""), str(capacity)


def node_price(node: dict[str, Any] | None, at: datetime) -> tuple[str, str, Decimal | None]:
    """(instance type, capacity type, node hourly price in force at ``at``) of a Node; the price
    is None when the node says no capacity type or the catalog prices no such node."""
    instance, capacity = node_capacity(node)
    if not instance or not capacity:
        return instance, capacity, None
    return instance, capacity, node_hourly_price(instance, capacity, at)


def cost_sentence(pod_name: str, requested: str, node: dict[str, Any] | None, at: datetime) -> str:
    """The timeline line for one replica's node: its capacity type and the price used; "" when
    the node says nothing about its capacity."""
    instance, capacity, price = node_price(node, at)
    if not capacity:
        return ""
    name = ((node or {}).get("metadata") or {}).get("name", "")
    where = f"Replica {pod_name} runs on {capacity} node {name} ({instance or 'unknown type'})"
    if price is None:
        said = f"{where}: the catalog has no {capacity} price for it."
    else:
        said = f"{where}: {money(price)}/h, the {capacity} price."
    if requested and capacity != requested:
        said += f" The endpoint asked for {requested}; it is billed as {capacity}."
    return said
