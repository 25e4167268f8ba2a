"""Integration: the apiserver is down for 30 s while 10 endpoints are requested.

Every request is accepted (202) and recorded; the applies fail with TransientClusterError
(connection refused) and Celery's retries give up while the apiserver is away. Nothing is lost:
after the restart `sync_statuses` finds the unapplied generations and applies them, and every
endpoint converges to exactly one InferenceService and one ScaledObject.
"""

import time

import pytest

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.tasks import sync_statuses
from deployments.models import Endpoint
from deployments.workloads import labels
from tests.deployments.cluster_helpers import endpoint_body

pytestmark = pytest.mark.cluster
OUTAGE_SECONDS = 30


def test_apiserver_down_30s_during_10_requests_all_converge(
    kube_cluster,
    live_cluster,
    api_client,
    team,
    llama_8b,
    gpu_l4,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.KUBE_REAPPLY_AFTER_SECONDS = 3600  # the safety net must not fire during the outage
    stopped_at = time.monotonic()
    kube_cluster.stop_apiserver()
    try:
        for i in range(10):
            body = endpoint_body(
                team, llama_8b, gpu_l4, name=f"chat-{i}", max_context_length=4096, max_replicas=1
            )
            with django_capture_on_commit_callbacks(execute=True):
                r = api_client.post("/api/v1/endpoints/", body, format="json")
            assert r.status_code == 202, r.content
        pending = Endpoint.objects.filter(team=team)
        assert pending.count() == 10
        assert all(ep.applied_generation == 0 for ep in pending)
        assert all("retrying" in ep.status_message for ep in pending)
        assert sync_statuses() == 0  # cannot reach the cluster either: no crash, no change
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
    finally:
        kube_cluster.start_apiserver()

    settings.KUBE_REAPPLY_AFTER_SECONDS = 0  # (in production: two minutes after the request)
    assert sync_statuses() == 10  # finds the 10 lost applies and applies them
    for ep in Endpoint.objects.filter(team=team):
        assert ep.applied_generation == ep.generation == 1, ep.status_message
        assert ep.status == EndpointStatus.PROVISIONING
    isvcs = live_cluster.list(
        manifests.ISVC_API, "InferenceService", team.namespace, labels.MANAGED_SELECTOR
    )
    scaled = live_cluster.list(
        manifests.KEDA_API, "ScaledObject", team.namespace, labels.MANAGED_SELECTOR
    )
    assert sorted(o["metadata"]["name"] for o in isvcs) == sorted(f"chat-{i}" for i in range(10))
    assert len(scaled) == 10
