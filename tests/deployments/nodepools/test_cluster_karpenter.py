"""GPU nodes made by the real Karpenter (v1.15 KWOK provider) from the portal's own NodePools.

Real: kube-apiserver with Karpenter's CRDs (the portal's NodePools and NodeClass are validated
by them on apply), Karpenter's provisioner, limits, NodeClaim lifecycle and events, the KServe
controller (InferenceService -> Deployment -> pod), kube-controller-manager and kube-scheduler.
Played: the kubelet (tests/infra FakeKubelet serves the Nodes the KWOK provider creates) and the
KWOKNodeClass's Ready condition (no controller sets it in the KWOK provider).
"""

import re
from decimal import Decimal

import pytest

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.tasks import sync_statuses
from deployments.models import Endpoint
from deployments.nodepools import manifests, reconcile
from tests.deployments.cluster_helpers import pods, real_controllers, sync_until, wait_for
from tests.factories import GpuRateFactory, GpuTypeFactory, InstanceOfferingFactory

pytestmark = pytest.mark.cluster

INSTANCE = "kt-g6e.xlarge"
POOL = "modelport-gpu-kt-g6e-spot"


@pytest.fixture
def real(request, live_cluster, kube_cluster, fake_gpu_node):
    return real_controllers(request, live_cluster, kube_cluster, fake_gpu_node)


@pytest.fixture
def l40s(db):
    """One GPU type whose pools may hold one GPU, one single-GPU offering, spot and on-demand."""
    gpu = GpuTypeFactory(name="L40S-k", node_label_value="l40s-k", max_gpus_per_pool=1)
    offering = InstanceOfferingFactory(
        gpu_type=gpu, instance_type=INSTANCE, gpus_per_node=1, vcpus=16, memory_gib=128
    )
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("1.8610"))
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=Decimal("0.7444"))
    return gpu


def _body(team, model, gpu, name):
    return {
        "team": team.slug,
        "name": name,
        "model": model.slug,
        "gpu_type": gpu.name,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 1,
        "target_queue_depth": 4,
        "capacity_type": "spot",
    }


def _request(api_client, body, capture) -> Endpoint:
    with capture(execute=True):
        r = api_client.post("/api/v1/endpoints/", body, format="json")
    assert r.status_code in (201, 202), r.content
    return Endpoint.objects.get(uuid=r.json()["uuid"])


def _claims(client):
    return client.list(manifests.NODECLAIM_API, "NodeClaim")


def _pools_ready(cluster) -> bool:
    """Every managed NodePool Ready (its NodeClass Ready): Karpenter considers only those, and a
    pod it saw fail once gets its preferences relaxed (spot preferred would be dropped)."""
    pools = cluster.list(manifests.NODEPOOL_API, "NodePool")
    return bool(pools) and all(
        any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
        for p in pools
    )


def _synced_message(ep) -> str:
    sync_statuses()
    ep.refresh_from_db()
    return ep.status_message


def test_a_pending_gpu_pod_makes_a_node_and_the_pools_gpu_limit_refuses_the_next(
    real,
    start_karpenter,
    kube_cluster,
    api_client,
    team,
    llama_8b,
    l40s,
    django_capture_on_commit_callbacks,
    member_client,
):
    cluster, kubelet = real["client"], real["kubelet"]
    karpenter = start_karpenter(manifests.kwok_instance_types())
    # Karpenter launches exactly what the catalog prices.
    [kwok_type] = karpenter.instance_types
    assert kwok_type["name"] == INSTANCE and kwok_type["resources"]["nvidia.com/gpu"] == "1"

    # The portal's pools, applied like everything else and validated by Karpenter's CRDs.
    assert reconcile.apply_nodepools() == "applied 2 node pools"
    assert reconcile.apply_nodepools() == "applied 2 node pools"  # safe to run twice
    from tests.infra.karpenter import mark_node_class_ready

    mark_node_class_ready(kube_cluster, manifests.NODE_CLASS_NAME)
    wait_for(lambda: _pools_ready(cluster), "the NodePools to be Ready")
    pool = cluster.get(manifests.NODEPOOL_API, "NodePool", POOL)
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": "1"}

    # 1. A pending spot replica: Karpenter launches a node for it, and the page says so.
    ep = _request(
        api_client, _body(team, llama_8b, l40s, "chat"), django_capture_on_commit_callbacks
    )
    [claim] = wait_for(lambda: _claims(cluster), "Karpenter to create a NodeClaim", timeout=90)
    assert claim["metadata"]["labels"]["karpenter.sh/nodepool"] == POOL
    message = wait_for(
        lambda: "Karpenter" in _synced_message(ep) and ep.status_message,
        "the endpoint to say Karpenter is launching a node",
    )
    assert re.search(
        rf"Karpenter (is launching|launched) a {re.escape(INSTANCE)} spot node \(\d+ s ago\)",
        message,
    ), message
    assert ep.status == EndpointStatus.PROVISIONING

    # The KWOK provider made the Node; our stand-in kubelet serves it from now on.
    kubelet.serve_provisioned_nodes()
    [pod] = wait_for(
        lambda: [p for p in pods(cluster, ep) if p["spec"].get("nodeName")], "the pod to be bound"
    )
    node = cluster.get("v1", "Node", pod["spec"]["nodeName"])
    labels = node["metadata"]["labels"]
    assert labels["node.kubernetes.io/instance-type"] == INSTANCE
    assert labels["karpenter.sh/capacity-type"] == "spot"
    assert labels["karpenter.sh/nodepool"] == POOL
    assert labels["karpenter.k8s.aws/instance-gpu-name"] == "l40s-k"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "1"
    taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
    assert ("nvidia.com/gpu", "NoSchedule") in taints
    assert ("karpenter.sh/unregistered", "NoExecute") not in taints  # Karpenter registered it
    sync_until(ep, EndpointStatus.READY, "the endpoint on Karpenter's node to become Ready", 90)
    wait_for(
        lambda: any(
            c["type"] == "Initialized" and c["status"] == "True"
            for c in (
                cluster.get(manifests.NODECLAIM_API, "NodeClaim", claim["metadata"]["name"]).get(
                    "status"
                )
                or {}
            ).get("conditions")
            or []
        ),
        "the NodeClaim to be Initialized",
    )
    # The node's own capacity type prices it on the timeline: the spot pool's node, spot price.
    timeline = " | ".join(ep.events.values_list("message", flat=True))
    spot = f"runs on spot node {node['metadata']['name']} ({INSTANCE}): $0.74/h, the spot price."
    assert spot in timeline, timeline

    # 2. A second spot replica of the same GPU: the pool's one-GPU ceiling refuses a node.
    second = _request(
        api_client, _body(team, llama_8b, l40s, "chat-two"), django_capture_on_commit_callbacks
    )
    message = wait_for(
        lambda: "GPU limit" in _synced_message(second) and second.status_message,
        "the second endpoint to explain the pool limit",
        timeout=90,
    )
    assert f"Node pool {POOL} has reached its GPU limit (1 of 1 GPUs in use)" in message, message
    assert len(_claims(cluster)) == 1  # no second node
    page = member_client.get(f"/endpoints/{second.uuid}/")
    assert page.status_code == 200
    assert f"Node pool {POOL} has reached its GPU limit" in page.content.decode()


# --- spot, honestly: an interruption ------------------------------------------------------------


def _node_of(cluster, ep) -> dict | None:
    running = [p for p in pods(cluster, ep) if p["spec"].get("nodeName")]
    running = [p for p in running if not p["metadata"].get("deletionTimestamp")]
    return cluster.get("v1", "Node", running[0]["spec"]["nodeName"]) if running else None


def test_a_spot_interruption_moves_the_replica_to_on_demand_and_the_timeline_says_so(
    real,
    start_karpenter,
    kube_cluster,
    api_client,
    team,
    llama_8b,
    l40s,
    staff,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    from deployments.endpoints import services
    from tests.infra.karpenter import Karpenter, mark_node_class_ready

    cluster, kubelet = real["client"], real["kubelet"]
    # Room in the spot pool for the rollout the fallback setting makes (at the one-GPU ceiling
    # the new pod would go on-demand straight away: Karpenter relaxes the spot preference).
    l40s.max_gpus_per_pool = 4
    l40s.save()
    # The test's nodes drain in seconds (the pods' own 30 s grace is granted within it).
    monkeypatch.setitem(manifests.TERMINATION_GRACE, "spot", "32s")
    types = manifests.kwok_instance_types()
    karpenter = start_karpenter(types)
    assert reconcile.apply_nodepools() == "applied 2 node pools"
    mark_node_class_ready(kube_cluster, manifests.NODE_CLASS_NAME)
    wait_for(lambda: _pools_ready(cluster), "the NodePools to be Ready")
    kubelet.serve_provisioned_nodes()

    ep = _request(
        api_client, _body(team, llama_8b, l40s, "spotty"), django_capture_on_commit_callbacks
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.set_spot_fallback(ep, staff, True)
    ep.refresh_from_db()
    sync_until(ep, EndpointStatus.READY, "the endpoint on a spot node", 120)
    spot_node = _node_of(cluster, ep)
    assert spot_node["metadata"]["labels"]["karpenter.sh/capacity-type"] == "spot"
    [claim] = [
        c for c in _claims(cluster) if c["status"].get("nodeName") == spot_node["metadata"]["name"]
    ]

    # The cloud takes its spot capacity back: the provider restarts without the spot offering
    # (the KWOK provider marks every offering it knows available, so that is the only way).
    karpenter.stop()
    no_spot = [
        {
            **t,
            "offerings": [o for o in t["offerings"] if o["Requirements"][0]["values"] != ["spot"]],
        }
        for t in types
    ]
    replacement = Karpenter(kube_cluster, no_spot)
    from tests.infra.controllers import start_controllers

    start_controllers([replacement])
    try:
        # The interruption, as Karpenter's interruption controller does it: the disruption taint,
        # then the NodeClaim's deletion (its termination drains the node).
        cluster.dynamic.resources.get(api_version="v1", kind="Node").patch(
            name=spot_node["metadata"]["name"],
            body={
                "spec": {
                    "taints": [
                        *(spot_node["spec"].get("taints") or []),
                        {"key": "karpenter.sh/disrupted", "effect": "NoSchedule"},
                    ]
                }
            },
            content_type="application/merge-patch+json",
        )
        # The replacement node boots slowly (held unregistered), so the launch in progress is
        # seen for certain, not only when a status sample happens to fall inside it.
        kubelet.hold_provisioned_nodes(True)
        cluster.delete(claim)

        # The replica is removed once the node's grace period is up; Karpenter launches an
        # on-demand node for the replacement (the endpoint allows the fallback) and says so.
        def launching():
            sync_statuses()
            ep.refresh_from_db()
            return re.search(
                rf"Karpenter (is launching|launched) an? {re.escape(INSTANCE)} on-demand",
                ep.status_message,
            )

        wait_for(launching, "the endpoint to say Karpenter launches an on-demand node", 150)
        kubelet.hold_provisioned_nodes(False)

        def moved():
            node = _node_of(cluster, ep)
            return node and node["metadata"]["labels"]["karpenter.sh/capacity-type"] == "on-demand"

        wait_for(moved, "the replica to run on an on-demand node", timeout=150)
        sync_until(ep, EndpointStatus.READY, "the endpoint Ready again on on-demand", 90)
        wait_for(
            lambda: cluster.get("v1", "Node", spot_node["metadata"]["name"]) is None,
            "Karpenter to terminate the interrupted spot node",
        )
        assert not [
            c for c in _claims(cluster) if c["metadata"]["name"] == claim["metadata"]["name"]
        ]
        # The timeline: Ready -> Provisioning says why; the status said where the replica went.
        timeline = " | ".join(ep.events.order_by("created_at").values_list("message", flat=True))
        assert "Karpenter removed a replica from a node it was terminating" in timeline, timeline
        # ... and what it cost: the replacement's on-demand node at the on-demand price.
        assert "$1.86/h, the on-demand price. The endpoint asked for spot; it is billed as " \
            "on-demand." in timeline, timeline  # fmt: skip
    finally:
        kubelet.hold_provisioned_nodes(False)
        replacement.stop()
