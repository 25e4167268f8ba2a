"""Cold starts measured on the real controllers: the real kube-apiserver, scheduler and
controller-manager, the KServe v0.20.0 controller with its webhooks (the storage-initializer is
really injected) and KEDA. Played by the FakeKubelet: the download's duration
(`slow_init`), the engine's load (`hold`/`release`) and the node (already there: its stages
are absent, as for any node the pod did not wait for)."""

import time

import pytest

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.tasks import sync_statuses
from tests.deployments.cluster_helpers import (
    deployment,
    endpoint_body,
    node_for,
    pods,
    post,
    real_controllers,
    request_endpoint,
    sync_until,
    wait_for,
)

pytestmark = pytest.mark.cluster
DOWNLOAD_SECONDS = 3
LOAD_SECONDS = 3


@pytest.fixture
def real(request, live_cluster, kube_cluster, fake_gpu_node):
    return real_controllers(request, live_cluster, kube_cluster, fake_gpu_node)


@pytest.fixture
def body(team, llama_8b, gpu_l4):
    return endpoint_body(team, llama_8b, gpu_l4, max_replicas=1)


def _start(real, ep, previous: set[str]) -> dict:
    """Play one start: the download runs DOWNLOAD_SECONDS, the engine loads LOAD_SECONDS."""
    client, kubelet = real["client"], real["kubelet"]

    def new_pod():
        return [p for p in pods(client, ep) if p["metadata"]["uid"] not in previous]

    [pod] = wait_for(new_pod, "KServe's Deployment to make a new pod")
    wait_for(
        lambda: (new_pod() or [{}])[0].get("status", {}).get("phase") == "Running",
        "the played download to finish",
    )
    time.sleep(LOAD_SECONDS)
    kubelet.release(ep.namespace)
    sync_until(ep, EndpointStatus.READY, "Ready")
    wait_for(lambda: ep.cold_starts.filter(pod_uid=pod["metadata"]["uid"]).exists(), "the record")
    return pod


def test_scale_to_zero_and_back_records_each_start_in_stages(
    real, api_client, body, django_capture_on_commit_callbacks
):
    kubelet = real["kubelet"]
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    kubelet.slow_init(ep.namespace, DOWNLOAD_SECONDS)
    kubelet.hold(ep.namespace)
    node_for(real, ep)
    first = _start(real, ep, set())
    assert [c["name"] for c in first["spec"]["initContainers"]] == ["storage-initializer"]

    # To zero: no replica, no pod (Stopped deletes KServe's Deployment) ...
    post(api_client, f"/api/v1/endpoints/{ep.uuid}/stop/", {}, django_capture_on_commit_callbacks)
    sync_until(ep, EndpointStatus.STOPPED, "stopped")
    wait_for(lambda: deployment(real["client"], ep) is None, "the Deployment to go")
    wait_for(lambda: not pods(real["client"], ep), "the pod to go")
    # ... and back: a new pod from nothing on the node that is still there.
    kubelet.hold(ep.namespace)
    post(api_client, f"/api/v1/endpoints/{ep.uuid}/start/", {}, django_capture_on_commit_callbacks)
    second = _start(real, ep, {first["metadata"]["uid"]})

    starts = {s.pod_uid: s for s in ep.cold_starts.all()}
    assert set(starts) == {first["metadata"]["uid"], second["metadata"]["uid"]}
    start = starts[second["metadata"]["uid"]]
    assert start.accepted, start.note
    assert not start.node_launched and start.node_launched_at is None  # the node was there
    assert start.pending_at <= start.scheduled_at <= start.weights_ready_at <= start.engine_ready_at
    assert start.weights_seconds >= DOWNLOAD_SECONDS - 1  # second-resolution timestamps
    engine = (start.engine_ready_at - start.weights_ready_at).total_seconds()
    assert engine >= LOAD_SECONDS - 1
    assert start.seconds == int((start.engine_ready_at - start.pending_at).total_seconds())
    assert start.seconds < 120  # the played start, not the time since the request
    ep.refresh_from_db()
    # Measured on a warm node, plus the estimated node launch: what the pre-warm plans with.
    assert ep.cold_start_seconds is not None and ep.cold_start_seconds < 120 + 420
    assert ep.events.filter(message__startswith=f"Start of pod {second['metadata']['name']}")
    sync_statuses()
    assert ep.cold_starts.count() == 2  # a later sync records nothing again
