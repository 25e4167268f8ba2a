"""Helpers for the integration tests on the real kube-apiserver with the real KServe
controller and KEDA operator (tests/infra/controllers.py). Nothing here writes an
InferenceService status, a Deployment or an HPA: the controllers do; only the kubelet is
played (tests/infra FakeKubelet)."""

import time

import pytest

from deployments.endpoints import manifests
from deployments.endpoints.tasks import sync_statuses
from deployments.models import Endpoint
from deployments.routing.models import Route
from deployments.routing.tasks import apply_route


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


def endpoint_body(team, model, gpu_type, **fields) -> dict:
    """An endpoint request for POST /api/v1/endpoints/: one GPU, bf16, 8k context, one or two
    replicas on demand (``fields`` override any of it)."""
    return {
        "team": team.slug,
        "name": "chat",
        "model": model.slug,
        "gpu_type": gpu_type.name,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 2,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
        **fields,
    }


def request_endpoint(api_client, body: dict, capture):
    """POST the request with the on-commit apply run for real; the new Endpoint row."""
    with capture(execute=True):
        r = api_client.post("/api/v1/endpoints/", body, format="json")
    assert r.status_code in (201, 202), r.content
    return Endpoint.objects.get(uuid=r.json()["uuid"])


def post(api_client, path: str, data: dict, capture, method: str = "post"):
    """Call the API (an action or an edit) with the on-commit apply run for real."""
    with capture(execute=True):
        r = getattr(api_client, method)(path, data, format="json")
    assert r.status_code in (200, 202), r.content
    return r


def request_route(api, team, small, large, **fields):
    """POST a two-tier route (``small``/``large`` endpoints), apply it once: the Route row."""
    data = {
        "team": team.slug,
        "name": "chat",
        "policy": "prompt_length",
        "tiers": [
            {"endpoint": str(small.uuid), "role": "small"},
            {"endpoint": str(large.uuid), "role": "large"},
        ],
        **fields,
    }
    response = api.post("/api/v1/routes/", data, format="json")
    assert response.status_code == 202, response.content
    route = Route.objects.get(uuid=response.json()["uuid"])
    assert apply_route(route.pk, 1) == "applied", Route.objects.get(pk=route.pk).status_message
    return route
