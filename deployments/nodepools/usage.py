"""What each GPU node pool runs and costs, as the platform team's page shows it.

:func:`pool_rows` is pure: from the managed NodePools, the Nodes Karpenter made for them
(label ``karpenter.sh/nodepool``), the pods bound to those nodes and the catalog's node prices in
force, one row per pool: nodes, GPUs, GPUs requested by running pods, GPU limit, cost per hour.
The apply task records the rows (``record_usage``) in the cache after each run; the page reads
that snapshot (the UI never calls the cluster).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.cache import cache

from deployments.nodepools.manifests import (
    CAPACITY_TYPE_LABEL,
    GPU_RESOURCE,
    INSTANCE_TYPE_LABEL,
    NODEPOOL_LABEL,
)

CACHE_KEY = "nodepools.usage"
CACHE_SECONDS = 24 * 3600


@dataclass
class PoolRow:
    name: str
    capacity_type: str
    instance_types: list[str]
    gpu_limit: int | None
    nodes: list[str] = field(default_factory=list)
    gpus: int = 0
    gpus_in_use: int = 0
    cost_per_hour: Decimal = Decimal("0")
    unpriced: list[str] = field(default_factory=list)  # instance types with no price in force


def _int(value) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def pool_rows(
    nodepools: list[dict],
    nodes: list[dict],
    pods: list[dict],
    prices: dict[tuple[str, str], Decimal],
) -> list[PoolRow]:
    """One row per NodePool (name order); ``prices`` is {(instance type, capacity type): node
    hourly price in force}."""
    rows: dict[str, PoolRow] = {}
    for pool in nodepools:
        spec = pool.get("spec") or {}
        reqs = {
            r.get("key"): r.get("values") or []
            for r in ((spec.get("template") or {}).get("spec") or {}).get("requirements") or []
        }
        limit = (spec.get("limits") or {}).get(GPU_RESOURCE)
        name = pool["metadata"]["name"]
        rows[name] = PoolRow(
            name=name,
            capacity_type=", ".join(reqs.get(CAPACITY_TYPE_LABEL, [])),
            instance_types=list(reqs.get(INSTANCE_TYPE_LABEL, [])),
            gpu_limit=None if limit is None else _int(limit),
        )
    pool_of_node: dict[str, str] = {}
    for node in nodes:
        labels = node["metadata"].get("labels") or {}
        row = rows.get(labels.get(NODEPOOL_LABEL, ""))
        if row is None:
            continue
        name = node["metadata"]["name"]
        pool_of_node[name] = row.name
        row.nodes.append(name)
        row.gpus += _int(((node.get("status") or {}).get("allocatable") or {}).get(GPU_RESOURCE))
        key = (labels.get(INSTANCE_TYPE_LABEL, ""), labels.get(CAPACITY_TYPE_LABEL, ""))
        if key in prices:
            row.cost_per_hour += prices[key]
        else:
            row.unpriced.append(key[0])
    for pod in pods:
        row = rows.get(pool_of_node.get((pod.get("spec") or {}).get("nodeName") or "", ""))
        if row is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for c in (pod.get("spec") or {}).get("containers") or []:
            row.gpus_in_use += _int(
                ((c.get("resources") or {}).get("requests") or {}).get(GPU_RESOURCE)
            )
    for row in rows.values():
        row.nodes.sort()
    return [rows[n] for n in sorted(rows)]


def record_usage(rows: list[PoolRow], at: datetime) -> None:
    cache.set(CACHE_KEY, {"at": at, "rows": [asdict(r) for r in rows]}, CACHE_SECONDS)


def recorded_usage() -> dict | None:
    """{"at": when observed, "rows": [PoolRow as dict]} or None before the first run."""
    return cache.get(CACHE_KEY)
