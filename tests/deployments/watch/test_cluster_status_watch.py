"""The status watcher end to end: `manage.py watch_status` processes on the real apiserver with
the real KServe controller (the kubelet played by FakeKubelet), writing to this test's
PostgreSQL database. Nothing here calls sync_statuses: every status comes by watch."""

import signal
import uuid

import pytest

from deployments.endpoints import observe
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.reconcile import apply_endpoint
from deployments.models import Endpoint
from tests.deployments.cluster_helpers import (
    endpoint_body,
    isvc,
    node_for,
    pods,
    wait_for,
)
from tests.workers import StatusWatcherProcess

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
LEASE_SECONDS = 3


@pytest.fixture
def real(request, kube_cluster, fake_gpu_node, watch_env):
    """The real KServe controller (KEDA is not needed: no scaling here)."""
    from deployments.k8s import ClusterClient

    request.getfixturevalue("kserve_controller")
    return {
        "client": ClusterClient.from_settings(),
        "kubelet": kube_cluster.fake_kubelet,
        "node": fake_gpu_node,
    }


@pytest.fixture
def watch_env(e2e_services, kubeconfig_path, kube_namespace, settings):
    prefix = f"{kube_namespace}-"
    settings.KUBECONFIG = kubeconfig_path
    settings.KUBE_CONTEXT = ""
    settings.KUBE_IN_CLUSTER = False
    settings.KUBE_NAMESPACE_PREFIX = prefix
    return {
        **e2e_services,
        "KUBECONFIG": kubeconfig_path,
        "KUBE_NAMESPACE_PREFIX": prefix,
        "WATCH_LEASE_NAMESPACE": kube_namespace,
        "WATCH_LEASE_NAME": f"watcher-{uuid.uuid4().hex[:6]}",
        "WATCH_LEASE_SECONDS": str(LEASE_SECONDS),
    }


@pytest.fixture
def watchers(watch_env):
    started: list[StatusWatcherProcess] = []

    def start(identity: str) -> StatusWatcherProcess:
        watcher = StatusWatcherProcess(watch_env, identity).start()
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


def _endpoint(api_client, team, llama_8b, gpu_l4) -> Endpoint:
    team.max_gpus = 8
    team.save(update_fields=["max_gpus"])
    name = f"w{uuid.uuid4().hex[:5]}"
    body = endpoint_body(team, llama_8b, gpu_l4, name=name, max_context_length=4096, max_replicas=1)
    r = api_client.post("/api/v1/endpoints/", body, format="json")
    assert r.status_code == 202, r.content
    ep = Endpoint.objects.get(uuid=r.json()["uuid"])
    assert apply_endpoint(ep.pk, ep.generation) == "applied"  # the worker's part, in-process
    ep.refresh_from_db()
    return ep


def _status(ep, status):
    def check():
        ep.refresh_from_db()
        return ep.status == status

    return check


def test_ready_reaches_the_row_by_watch_at_the_controllers_time(
    real, watchers, api_client, team, llama_8b, gpu_l4
):
    watcher = watchers("only")
    watcher.wait_for_log("leading")
    ep = _endpoint(api_client, team, llama_8b, gpu_l4)
    applied_at = ep.status_changed_at  # Provisioning since the apply
    node_for(real, ep)
    wait_for(_status(ep, EndpointStatus.READY), "Ready by watch", timeout=120, every=0.2)
    client = real["client"]
    # the time the controllers recorded (whole seconds), not the time the watcher noticed it;
    # never before the previous transition
    controllers = observe.transition_time(isvc(client, ep), EndpointStatus.READY, pods(client, ep))
    assert ep.status_changed_at == max(controllers, applied_at)
    assert ep.status_changed_at <= ep.updated_at
    assert ep.events.filter(new_status=EndpointStatus.READY).count() == 1


def test_the_successor_takes_the_lease_and_catches_up_nothing_lost(
    real, watchers, api_client, team, llama_8b, gpu_l4
):
    first = watchers("first")
    first.wait_for_log("leading")
    second = watchers("second")
    second.wait_for_log("started")
    ep = _endpoint(api_client, team, llama_8b, gpu_l4)
    node_for(real, ep)
    wait_for(_status(ep, EndpointStatus.READY), "Ready by watch", timeout=120, every=0.2)
    assert "leading" not in second.logs  # one active replica

    first.kill(signal.SIGKILL)  # the leader dies: no release, the Lease runs out
    real["kubelet"].hold(ep.namespace)  # meanwhile the replica stops being ready
    # the successor takes the Lease (LEASE_SECONDS), lists, and records what it missed: well
    # within one resync (STATUS_SYNC_SECONDS, 300 s where the watcher runs)
    wait_for(_status(ep, EndpointStatus.PROVISIONING), "the missed change", timeout=90)
    assert "leading" in second.logs
    real["kubelet"].release(ep.namespace)
    wait_for(_status(ep, EndpointStatus.READY), "Ready again by watch", timeout=90, every=0.2)
    transitions = list(
        ep.events.exclude(new_status="").order_by("pk").values_list("new_status", flat=True)
    )
    assert transitions[-3:] == [
        EndpointStatus.READY,
        EndpointStatus.PROVISIONING,
        EndpointStatus.READY,
    ]
