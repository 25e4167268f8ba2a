"""Integration (real worker + real apiserver): the worker is SIGKILLed in the middle of applying
a burst of requests. Everything still converges, and nothing is applied twice into two objects.

Why it converges: `acks_late` keeps the killed task's message unacknowledged (Redis restores it
after the visibility timeout), and `sync_statuses` re-enqueues any generation that is still
unapplied after KUBE_REAPPLY_AFTER_SECONDS (shortened here). Both paths are idempotent: the
apply runs under the endpoint's row lock, skips an already-applied generation, and server-side
apply of the same manifests onto the same deterministic names changes nothing.
"""

import signal
import time

import pytest

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.tasks import sync_statuses
from deployments.k8s import ClusterClient
from deployments.models import Endpoint
from deployments.workloads import labels
from tests.deployments.cluster_helpers import endpoint_body
from tests.workers import CeleryWorker

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
N = 12


@pytest.fixture
def worker_env(e2e_services, kubeconfig_path, kube_namespace, settings):
    prefix = f"{kube_namespace}-"
    settings.KUBECONFIG = kubeconfig_path
    settings.KUBE_NAMESPACE_PREFIX = prefix
    return {**e2e_services, "KUBECONFIG": kubeconfig_path, "KUBE_NAMESPACE_PREFIX": prefix}


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_worker_sigkilled_mid_apply_converges_without_duplicates(
    worker_env, api_client, team, llama_8b, gpu_l4, settings
):
    team.max_gpus = 100
    team.save(update_fields=["max_gpus"])
    worker = CeleryWorker(worker_env)
    try:
        worker.start()
        for i in range(N):
            body = endpoint_body(
                team, llama_8b, gpu_l4, name=f"burst-{i}", max_context_length=4096, max_replicas=1
            )
            r = api_client.post("/api/v1/endpoints/", body, format="json")
            assert r.status_code == 202, r.content
        # kill it as soon as it is busy applying (some applied, some not yet)
        _wait(lambda: Endpoint.objects.filter(applied_generation=1).exists(), 60, "the first apply")
        worker.kill(signal.SIGKILL)
        applied_before = Endpoint.objects.filter(applied_generation=1).count()
        assert applied_before < N, "the worker finished before it could be killed"

        worker.start()
        settings.KUBE_REAPPLY_AFTER_SECONDS = 0
        sync_statuses()  # re-enqueues the lost applies onto the broker
        _wait(
            lambda: Endpoint.objects.filter(applied_generation=1).count() == N,
            120,
            "every endpoint to be applied",
        )
    finally:
        worker.stop()

    cluster = ClusterClient.from_settings()
    isvcs = cluster.list(
        manifests.ISVC_API, "InferenceService", team.namespace, labels.MANAGED_SELECTOR
    )
    scaled = cluster.list(
        manifests.KEDA_API, "ScaledObject", team.namespace, labels.MANAGED_SELECTOR
    )
    uuids = [o["metadata"]["labels"][manifests.LABEL_ENDPOINT_UUID] for o in isvcs]
    assert len(isvcs) == N and len(set(uuids)) == N  # one object per endpoint, no duplicates
    assert len(scaled) == N
    for ep in Endpoint.objects.filter(team=team):
        assert ep.status == EndpointStatus.PROVISIONING
        assert ep.events.filter(new_status=EndpointStatus.PROVISIONING).count() == 1
