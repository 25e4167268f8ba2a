"""A cluster's Prometheus finds the predictor pods: the real KServe controller (and its pod
webhook) makes the pod from what we render, and a real Prometheus running the scrape job of
`deploy/prometheus-predictors.yml` (Kubernetes service discovery, role pod, through the real
apiserver) turns it into one target at `<pod IP>:8080/metrics` with the labels the portal
reads (`namespace`, `pod`). The pod here is played (no engine needed); the same job scrapes real
servers in test_cluster_engine.py.
"""

import pytest

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from tests.deployments.cluster_helpers import (
    endpoint_body,
    pods,
    request_endpoint,
    sync_until,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.prometheus]


@pytest.fixture
def kserve(live_cluster, kserve_controller):
    return live_cluster


@pytest.fixture
def body(team, llama_8b, gpu_l4):
    return endpoint_body(team, llama_8b, gpu_l4, max_context_length=2048, max_replicas=1)


def test_the_documented_scrape_job_finds_the_predictor_pod_at_its_serving_port(
    kserve,
    fake_gpu_node,
    predictor_prometheus,
    api_client,
    body,
    django_capture_on_commit_callbacks,
):
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    fake_gpu_node(gpus=4, labels=manifests.node_selector(ep))
    sync_until(ep, EndpointStatus.READY, "Ready", timeout=120)
    [pod] = pods(kserve, ep)
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]

    # The annotations the pod carries after KServe's webhook point at the model server.
    notes = pod["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    assert notes["prometheus.io/port"] == str(manifests.SERVING_PORT)
    assert notes["prometheus.io/path"] == "/metrics"

    def found():
        return [t for t in predictor_prometheus.active_targets() if t["labels"].get("pod") == name]

    [target] = wait_for(found, "the pod discovered as a scrape target", timeout=60)
    assert target["scrapeUrl"] == f"http://{ip}:{manifests.SERVING_PORT}/metrics"
    labels = target["labels"]
    assert labels["namespace"] == ep.namespace
    assert labels["container"] == "kserve-container"
    assert labels["job"] == "modelport-predictors"
    # Only ModelPort's model server: no target for the storage-initializer or other pods.
    targets = predictor_prometheus.active_targets()
    assert [t["labels"]["pod"] for t in targets if t["labels"]["namespace"] == ep.namespace] == [
        name
    ]
