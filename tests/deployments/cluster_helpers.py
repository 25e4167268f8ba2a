"""Helpers for the integration tests on the real kube-apiserver with the real KServe
controller and KEDA operator (tests/infra/controllers.py). Nothing here writes an
InferenceService status, a Deployment or an HPA: the controllers do; only the kubelet is
played (tests/infra FakeKubelet)."""

import time

import pytest

from deployments.endpoints import manifests
from deployments.endpoints.tasks import sync_statuses


def wait_for(check, what: str, timeout: float = 60.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def real_controllers(request, live_cluster, kube_cluster, fake_gpu_node) -> dict:
    """The pieces a test on the real controllers needs; skips when they are not running."""
    try:  # the fixtures of tests/infra/fixtures.py
        request.getfixturevalue("kserve_controller")
        keda = request.getfixturevalue("keda_operator")
    except pytest.FixtureLookupError:
        pytest.skip("the real-controller fixtures (kserve_controller, keda_operator) are absent")
    return {
        "client": live_cluster,
        "kubelet": kube_cluster.fake_kubelet,
        "node": fake_gpu_node,
        "keda": keda,
    }


def isvc(client, ep):
    return client.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace)


def deployment(client, ep):
    return client.get("apps/v1", "Deployment", f"{ep.isvc_name}-predictor", ep.namespace)


def pods(client, ep):
    return client.list("v1", "Pod", ep.namespace, f"{manifests.LABEL_ENDPOINT_UUID}={ep.uuid}")


def node_for(real: dict, ep, gpus: int = 4) -> str:
    """A fake GPU node carrying exactly the labels the endpoint's nodeSelector asks for."""
    return real["node"](gpus=gpus, labels=manifests.node_selector(ep))


def sync_until(ep, status, what: str, timeout: float = 60.0):
    def check():
        sync_statuses()
        ep.refresh_from_db()
        return ep.status == status

    wait_for(check, what, timeout)
