"""The real Karpenter (KWOK provider) on the session's test cluster, started by a test once its
catalog exists (the instance types file is the portal's `karpenter_instance_types` output)."""

import time

import pytest

from tests.infra.kube import MissingBinaries


@pytest.fixture
def start_karpenter(kube_cluster, live_cluster, kube_namespace, settings):
    """``start_karpenter(instance_types)`` -> the running :class:`tests.infra.karpenter.Karpenter`
    (the test turns on ``fake_kubelet.serve_provisioned_nodes()`` when its nodes may come up).

    The portal is switched to the KWOK NodeClass with node pools on. At teardown the managed
    NodePools are deleted (Karpenter then terminates its NodeClaims and Nodes), Karpenter is
    stopped and any Node it left is removed."""
    from tests.infra.controllers import start_controllers
    from tests.infra.karpenter import Karpenter

    settings.KARPENTER_NODEPOOLS = True
    settings.KARPENTER_NODE_CLASS = "kwok"
    started = []

    def start(instance_types):
        try:
            karpenter = Karpenter(kube_cluster, instance_types)
        except MissingBinaries as exc:
            pytest.skip(str(exc))
        start_controllers([karpenter])
        started.append(karpenter)
        return karpenter

    yield start
    if not started:
        return
    from deployments.nodepools import manifests
    from deployments.workloads.labels import MANAGED_SELECTOR

    # The test's team namespaces go first: their Deployments would otherwise keep making
    # pending pods, and the next test's Karpenter launched nodes for them out of its pools'
    # GPU limits (a whole run: the next test's first replica refused at the limit).
    ours = [
        ns["metadata"]["name"]
        for ns in live_cluster.list("v1", "Namespace")
        if ns["metadata"]["name"].startswith(f"{kube_namespace}-")
    ]
    for name in ours:
        live_cluster.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        live_cluster.list("v1", "Pod", name) for name in ours
    ):
        time.sleep(0.5)
    for pool in live_cluster.list(manifests.NODEPOOL_API, "NodePool", None, MANAGED_SELECTOR):
        live_cluster.delete(pool)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and live_cluster.list(manifests.NODECLAIM_API, "NodeClaim"):
        time.sleep(0.5)
    for karpenter in started:
        karpenter.stop()
    kube_cluster.fake_kubelet.provisioned_selector = None
    for node in live_cluster.list("v1", "Node", None, "kwok.x-k8s.io/node=fake"):
        kube_cluster.fake_kubelet.remove_node(node["metadata"]["name"])
    for claim in live_cluster.list(manifests.NODECLAIM_API, "NodeClaim"):
        # a NodeClaim Karpenter could not finish: drop its finalizer so the next test starts clean
        live_cluster.dynamic.resources.get(api_version="karpenter.sh/v1", kind="NodeClaim").patch(
            name=claim["metadata"]["name"],
            body={"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )
        live_cluster.delete(claim)
