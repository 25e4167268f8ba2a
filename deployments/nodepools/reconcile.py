"""Apply the GPU node pools the catalog asks for (safe to run twice: server-side apply of the
same objects changes nothing; a pool the catalog no longer has is deleted, once)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from catalog.pricing import offering_prices
from deployments.k8s import ClusterClient, cluster_configured
from deployments.nodepools import manifests, usage
from deployments.workloads.labels import MANAGED_SELECTOR

log = logging.getLogger(__name__)


def apply_nodepools() -> str:
    """Render the NodeClass and NodePools from the catalog, server-side apply them, delete the
    managed NodePools the catalog no longer asks for. Returns what was done."""
    if not settings.KARPENTER_NODEPOOLS:
        return "node pools are off (KARPENTER_NODEPOOLS=false)"
    if not cluster_configured():
        return "no cluster configured"
    client = ClusterClient.from_settings()
    objects = manifests.render()
    client.apply(objects)
    wanted = {o["metadata"]["name"] for o in objects if o["kind"] == "NodePool"}
    removed = []
    for pool in client.list(manifests.NODEPOOL_API, "NodePool", None, MANAGED_SELECTOR):
        name = pool["metadata"]["name"]
        if name not in wanted and client.delete(pool):
            removed.append(name)
    log.info("node pools applied=%s removed=%s", sorted(wanted), removed)
    observe_usage(client)
    return f"applied {len(wanted)} node pools" + (
        f", removed {', '.join(removed)}" if removed else ""
    )


def observe_usage(client: ClusterClient) -> list[usage.PoolRow]:
    """Record each managed pool's nodes, GPUs, GPUs in use and cost for the platform page."""
    pools = client.list(manifests.NODEPOOL_API, "NodePool", None, MANAGED_SELECTOR)
    nodes = client.list("v1", "Node", None, manifests.NODEPOOL_LABEL)
    pods = client.list("v1", "Pod", None, MANAGED_SELECTOR)
    prices = {
        (p.offering.instance_type, p.capacity_type): p.hourly_price for p in offering_prices()
    }
    rows = usage.pool_rows(pools, nodes, pods, prices)
    usage.record_usage(rows, timezone.now())
    return rows
