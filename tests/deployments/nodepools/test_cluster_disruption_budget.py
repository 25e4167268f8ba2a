"""The portal's PodDisruptionBudget on the real apiserver's eviction API and in the real
Karpenter's drain.

Real: the PDB as the portal renders and applies it, kube-controller-manager's disruption
controller (``status.disruptionsAllowed``), the apiserver's eviction subresource (201 or 429),
KServe, KEDA, Karpenter v1.15 (KWOK provider): its NodeClaim termination, drain through the
eviction API and its own count of the answers (``karpenter_pods_eviction_requests_total``). Played: the kubelet (FakeKubelet; a replacement's
weights download is held with ``slow_init`` so it stays not Ready) and the KWOKNodeClass's Ready.
"""

import urllib.request

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from deployments.endpoints import manifests as endpoint_manifests
from deployments.endpoints.choices import EndpointStatus
from tests.deployments.cluster_helpers import (
    endpoint_body,
    pods,
    real_controllers,
    request_endpoint,
    sync_until,
    wait_for,
)
from tests.deployments.nodepools.karpenter_helpers import (
    claims,
    l40s_catalog,
    running_pods,
    start_pools,
)

pytestmark = pytest.mark.cluster
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"


@pytest.fixture
def real(request, live_cluster, kube_cluster, fake_gpu_node):
    return real_controllers(request, live_cluster, kube_cluster, fake_gpu_node)


def _ready(pod) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _pdb(cluster, ep) -> dict:
    return cluster.get(
        endpoint_manifests.PDB_API,
        "PodDisruptionBudget",
        endpoint_manifests.pdb_name(ep),
        ep.namespace,
    )


def _allowed(cluster, ep) -> int | None:
    return ((_pdb(cluster, ep) or {}).get("status") or {}).get("disruptionsAllowed")


def _evict(core, pod) -> int:
    """POST the pod's eviction subresource (what `kubectl drain` does): the HTTP status."""
    name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
    body = k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name=name, namespace=ns))
    try:
        core.create_namespaced_pod_eviction(name, ns, body)
    except ApiException as e:
        assert "disruption budget" in (e.body or ""), e.body
        return e.status
    return 201


def _karpenter_evictions(karpenter, code: str) -> float:
    """Karpenter's own count of eviction requests answered ``code`` (its metrics endpoint)."""
    url = f"http://127.0.0.1:{karpenter.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("karpenter_pods_eviction_requests_total{") and f'code="{code}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_evictions_and_karpenters_drain_wait_for_the_budget_of_a_two_replica_endpoint(
    real,
    start_karpenter,
    kube_cluster,
    kube_api_client,
    prometheus_server,
    api_client,
    team,
    llama_8b,
    settings,
    django_capture_on_commit_callbacks,
):
    cluster, kubelet = real["client"], real["kubelet"]
    core = k8s.CoreV1Api(kube_api_client)
    settings.KEDA_PROMETHEUS_URL = prometheus_server.url
    gpu = l40s_catalog()
    karpenter = start_pools(start_karpenter, kube_cluster, cluster)
    assert _karpenter_evictions(karpenter, "429") == 0
    body = endpoint_body(team, llama_8b, gpu, min_replicas=2, max_replicas=2)
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)

    # Two replicas Ready, each on its own one-GPU node Karpenter made; the portal's PDB lets
    # one go at a time.
    wait_for(
        lambda: len([p for p in running_pods(cluster, ep) if _ready(p)]) == 2,
        "two Ready replicas",
        180,
    )
    sync_until(ep, EndpointStatus.READY, "the endpoint Ready")
    pdb = _pdb(cluster, ep)
    assert pdb["spec"]["maxUnavailable"] == 1
    wait_for(lambda: _allowed(cluster, ep) == 1, "the disruption controller to allow one")
    first, second = sorted(running_pods(cluster, ep), key=lambda p: p["metadata"]["name"])
    assert first["spec"]["nodeName"] != second["spec"]["nodeName"]

    # A replacement's weights download takes long from now on: it stays not Ready.
    kubelet.slow_init(ep.namespace, 3600)
    # 1. The eviction API: the first eviction is granted ...
    assert _evict(core, first) == 201
    wait_for(
        lambda: first["metadata"]["uid"] not in {p["metadata"]["uid"] for p in pods(cluster, ep)},
        "the evicted replica to go",
    )
    wait_for(lambda: _allowed(cluster, ep) == 0, "the budget to be used up")
    # ... the second is refused with 429 while the replacement is not Ready.
    assert _evict(core, second) == 429
    assert cluster.get("v1", "Pod", second["metadata"]["name"], ep.namespace)

    # 2. Karpenter's drain: the second replica's node is deleted (a voluntary disruption).
    node = second["spec"]["nodeName"]
    [claim] = [c for c in claims(cluster) if c["status"].get("nodeName") == node]
    cluster.delete(claim)
    # The replica's do-not-disrupt annotation stops Karpenter from even asking (it would only
    # force-delete it at the pool's terminationGracePeriod, 30 min on demand) ...
    assert second["metadata"]["annotations"][DO_NOT_DISRUPT] == "true"
    # ... so an operator lifts it to let the drain go on: Karpenter now evicts through the API,
    # and the budget refuses it: the node waits, the replica keeps serving.
    cluster.dynamic.resources.get(api_version="v1", kind="Pod").patch(
        name=second["metadata"]["name"],
        namespace=ep.namespace,
        body={"metadata": {"annotations": {DO_NOT_DISRUPT: None}}},
        content_type="application/merge-patch+json",
    )
    wait_for(
        lambda: _karpenter_evictions(karpenter, "429") > 0,
        "Karpenter's eviction request to be refused (429)",
        90,
    )
    still = cluster.get("v1", "Pod", second["metadata"]["name"], ep.namespace)
    assert still and not still["metadata"].get("deletionTimestamp") and _ready(still)
    assert cluster.get("v1", "Node", node) is not None

    # 3. The replacement becomes Ready: the budget allows one again and Karpenter's eviction
    # goes through; the node is then terminated.
    kubelet.slow_init(ep.namespace, 0)
    wait_for(
        lambda: cluster.get("v1", "Pod", second["metadata"]["name"], ep.namespace) is None,
        "Karpenter to evict the second replica once the budget allows it",
        120,
    )
    assert _karpenter_evictions(karpenter, "200") >= 1
    wait_for(lambda: cluster.get("v1", "Node", node) is None, "the drained node to go", 90)
