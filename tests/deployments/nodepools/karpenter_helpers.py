"""What the cluster tests on the real Karpenter (KWOK provider) share: one small GPU catalog, the
portal's pools applied and Ready, the NodeClaims, the node a replica runs on."""

from decimal import Decimal

from deployments.nodepools import manifests, reconcile
from tests.deployments.cluster_helpers import pods, wait_for
from tests.factories import GpuRateFactory, GpuTypeFactory, InstanceOfferingFactory

INSTANCE = "kt-g6e.xlarge"
ON_DEMAND_PRICE = Decimal("1.8610")
SPOT_PRICE = Decimal("0.7444")


def l40s_catalog(max_gpus_per_pool: int = 4):
    """One GPU type, one single-GPU offering priced on-demand and spot (two pools)."""
    gpu = GpuTypeFactory(
        name="L40S-k", node_label_value="l40s-k", max_gpus_per_pool=max_gpus_per_pool
    )
    offering = InstanceOfferingFactory(
        gpu_type=gpu, instance_type=INSTANCE, gpus_per_node=1, vcpus=16, memory_gib=128
    )
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=ON_DEMAND_PRICE)
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=SPOT_PRICE)
    return gpu


def claims(cluster) -> list[dict]:
    return cluster.list(manifests.NODECLAIM_API, "NodeClaim")


def pools_ready(cluster) -> bool:
    """Every managed NodePool Ready (its NodeClass Ready): Karpenter considers only those."""
    pools = cluster.list(manifests.NODEPOOL_API, "NodePool")
    return bool(pools) and all(
        any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
        for p in pools
    )


def start_pools(start_karpenter, kube_cluster, cluster):
    """Karpenter running on the catalog's instance types, the portal's pools applied and Ready,
    and the played kubelet serving every node Karpenter makes; the running Karpenter."""
    from tests.infra.karpenter import mark_node_class_ready

    karpenter = start_karpenter(manifests.kwok_instance_types())
    assert reconcile.apply_nodepools().startswith("applied ")
    mark_node_class_ready(kube_cluster, manifests.NODE_CLASS_NAME)
    wait_for(lambda: pools_ready(cluster), "the NodePools to be Ready")
    kube_cluster.fake_kubelet.serve_provisioned_nodes()
    return karpenter


def running_pods(cluster, ep) -> list[dict]:
    return [
        p
        for p in pods(cluster, ep)
        if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")
    ]


def node_of(cluster, ep) -> dict | None:
    running = running_pods(cluster, ep)
    return cluster.get("v1", "Node", running[0]["spec"]["nodeName"]) if running else None
