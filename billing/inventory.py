"""GPU inventory for the platform team: per GPU type and capacity type, the GPUs the nodes
offer, those allocated to pods, those requested by pods still Pending, the idle ones and what
they cost per hour, from kube-state-metrics through the one Prometheus adapter.

* node GPUs: ``kube_node_status_allocatable{resource="nvidia_com_gpu"}`` per node, the node's
  instance type and capacity type from ``kube_node_labels`` (billing.queries' label names),
  the GPU type from the catalog offering of that instance type;
* allocated: GPU requests of scheduled pods (``node!=""``) per node;
* pending: GPU requests of unscheduled pods (no ``node``), attributed to the GPU type and
  capacity type of the endpoint or batch job they belong to (their ModelPort labels);
* cost per hour: the price in force (catalog.pricing.current_rates) per GPU x the GPUs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from catalog.models import InstanceOffering
from catalog.pricing import current_rates, to_unit_price
from deployments.models import BatchJob, Endpoint
from portal.prometheus import PrometheusClient

from . import queries
from .services.usage.fetch import node_capacity_type


def _queries(selector: str = "") -> dict[str, str]:
    """The instant queries; `selector` (e.g. 'cluster="prod"') narrows every one of them."""
    extra = f",{selector}" if selector else ""
    gpu = queries.GPU_RESOURCE
    requests = "kube_pod_container_resource_requests"
    return {
        "node_gpus": f"kube_node_status_allocatable{{{gpu}{extra}}}",
        "node_labels": f"kube_node_labels{{{selector}}}",
        "allocated": f'sum by (node) ({requests}{{{gpu},node!=""{extra}}})',
        "pending": f'sum by (namespace, pod) ({requests}{{{gpu},node=""{extra}}})',
        "pod_labels": (
            f'kube_pod_labels{{{queries.POD_ENDPOINT_UUID_LABEL}!=""{extra}}} '
            f'or kube_pod_labels{{{queries.POD_BATCH_UUID_LABEL}!=""{extra}}}'
        ),
    }


UNKNOWN = "unknown"


@dataclass
class InventoryRow:
    gpu_type: str
    capacity_type: str
    nodes: int = 0
    gpus: int = 0
    allocated: int = 0
    pending: int = 0
    per_gpu_hour: Decimal | None = None

    @property
    def idle(self) -> int:
        return max(self.gpus - self.allocated, 0)

    @property
    def cost_per_hour(self) -> Decimal | None:
        return None if self.per_gpu_hour is None else (self.per_gpu_hour * self.gpus)

    @property
    def idle_cost_per_hour(self) -> Decimal | None:
        return None if self.per_gpu_hour is None else (self.per_gpu_hour * self.idle)


def _by(rows: list[dict], *labels: str) -> dict[tuple, float]:
    return {tuple(r["labels"].get(k, "") for k in labels): float(r["value"]) for r in rows}


def gpu_inventory(client: PrometheusClient, selector: str = "") -> list[InventoryRow]:
    """One row per (GPU type, capacity type), largest fleet first."""
    q = _queries(selector)
    node_gpus = _by(client.query(q["node_gpus"]), "node")
    allocated = _by(client.query(q["allocated"]), "node")
    labels = {r["labels"].get("node", ""): r["labels"] for r in client.query(q["node_labels"])}
    offerings = {
        o.instance_type: o for o in InstanceOffering.objects.select_related("gpu_type").all()
    }
    rates = current_rates()
    rows: dict[tuple[str, str], InventoryRow] = {}

    def row(gpu: str, capacity: str) -> InventoryRow:
        return rows.setdefault((gpu, capacity), InventoryRow(gpu, capacity))

    for (node,), gpus in node_gpus.items():
        if gpus <= 0:
            continue
        meta = labels.get(node, {})
        offering = offerings.get(meta.get(queries.NODE_INSTANCE_TYPE_LABEL, ""))
        capacity = node_capacity_type(meta)
        r = row(offering.gpu_type.name if offering else UNKNOWN, capacity)
        r.nodes += 1
        r.gpus += int(gpus)
        r.allocated += int(allocated.get((node,), 0))
        if offering is not None and r.per_gpu_hour is None:
            price = rates.get((offering.pk, capacity))
            if price is not None:
                r.per_gpu_hour = to_unit_price(price / offering.gpus_per_node)
    for (gpu, capacity), gpus in _pending(client, q).items():
        row(gpu, capacity).pending += gpus
    return sorted(rows.values(), key=lambda r: (-r.gpus, r.gpu_type, r.capacity_type))


def _pending(client: PrometheusClient, q: dict[str, str]) -> dict[tuple[str, str], int]:
    """GPUs requested by Pending pods per (GPU type, capacity type) of their workload."""
    pending = _by(client.query(q["pending"]), "namespace", "pod")
    if not pending:
        return {}
    owners = _by(
        client.query(q["pod_labels"]),
        "namespace",
        "pod",
        queries.POD_ENDPOINT_UUID_LABEL,
        queries.POD_BATCH_UUID_LABEL,
    )
    owner_of = {(ns, pod): (ep, job) for ns, pod, ep, job in owners}
    endpoints = {
        str(u): (g, c)
        for u, g, c in Endpoint.objects.filter(
            uuid__in=[e for e, _ in owner_of.values() if e]
        ).values_list("uuid", "gpu_type__name", "capacity_type")
    }
    jobs = {
        str(u): (g, c)
        for u, g, c in BatchJob.objects.filter(
            uuid__in=[j for _, j in owner_of.values() if j]
        ).values_list("uuid", "gpu_type__name", "capacity_type")
    }
    result: dict[tuple[str, str], int] = defaultdict(int)
    for key, gpus in pending.items():
        ep, job = owner_of.get(key, ("", ""))
        where = endpoints.get(ep) or jobs.get(job) or (UNKNOWN, UNKNOWN)
        result[where] += int(gpus)
    return dict(result)
