"""End to end through real services: REST API -> approval -> Redis -> a real Celery worker
process on the same PostgreSQL database -> kube-apiserver -> status visible through the API."""

import time
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from deployments.endpoints.manifests import LABEL_ENDPOINT_UUID
from portal.models import Membership
from portal.tokens import create_token
from tests.factories import (
    CatalogModelFactory,
    GpuRateFactory,
    GpuTypeFactory,
    InstanceOfferingFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e
DEADLINE = 60.0


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(user, 'e2e')[1]}")
    return client


def _wait_for_status(client, uuid_, wanted: set[str], deadline: float = DEADLINE) -> dict:
    end = time.monotonic() + deadline
    body = {}
    while time.monotonic() < end:
        body = client.get(f"/api/v1/endpoints/{uuid_}/").json()
        if body["status"] in wanted:
            return body
        time.sleep(0.25)
    raise AssertionError(
        f"status stayed {body.get('status')!r} ({body.get('status_message')!r}); "
        f"wanted one of {sorted(wanted)}"
    )


@pytest.fixture
def world(e2e_services):
    slug = f"e2e{uuid.uuid4().hex[:6]}"
    team = TeamFactory(
        name=f"E2E {slug}", slug=slug, max_gpus=8, approval_cost_threshold=Decimal("100")
    )
    admin = MembershipFactory(
        team=team, user=UserFactory(username=f"{slug}-admin"), role=Membership.Role.ADMIN
    ).user
    member = MembershipFactory(
        team=team, user=UserFactory(username=f"{slug}-member"), role=Membership.Role.MEMBER
    ).user
    gpu = GpuTypeFactory(name=f"L4-{slug}", memory_gib=Decimal("24"), node_label_value="l4")
    offering = InstanceOfferingFactory(
        gpu_type=gpu, instance_type=f"{slug}.g6.xlarge", gpus_per_node=1
    )
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("0.80"))
    model = CatalogModelFactory(slug=f"llama-{slug}")
    return {
        "team": team,
        "admin": _client(admin),
        "member": _client(member),
        "gpu": gpu,
        "model": model,
    }


@pytest.fixture
def worker_on_cluster(start_celery_worker, kube_cluster):
    """The worker talks to the real kube-apiserver; the test process only to the API."""
    return start_celery_worker(KUBECONFIG=str(kube_cluster.kubeconfig_path))


def test_request_approval_worker_apply_and_delete_visible_through_the_api(
    world, worker_on_cluster, kube_api_client
):
    from kubernetes import client as k8s

    member, admin = world["member"], world["admin"]
    response = member.post(
        "/api/v1/endpoints/",
        {
            "team": world["team"].slug,
            "name": "chat",
            "model": world["model"].slug,
            "gpu_type": world["gpu"].name,
            "gpu_count": 1,
            "quantization": "bf16",
            "max_context_length": 4096,
            "min_replicas": 1,
            "max_replicas": 2,
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    endpoint = response.json()
    assert endpoint["status"] == "pending_approval"  # above the team's cost threshold

    pending = admin.get("/api/v1/approvals/").json()["results"]
    assert [e["uuid"] for e in pending] == [endpoint["uuid"]]
    response = admin.post(f"/api/v1/approvals/{endpoint['uuid']}/approve/")
    assert response.status_code == 202 and response.json()["status"] == "approved"

    applied = _wait_for_status(member, endpoint["uuid"], {"provisioning", "ready", "failed"})
    assert applied["status"] == "provisioning", applied["status_message"]
    assert applied["applied_generation"] == applied["generation"] == 1
    namespace = f"mp-{world['team'].slug}"
    isvc = k8s.CustomObjectsApi(kube_api_client).get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", "chat"
    )
    assert isvc["metadata"]["labels"][LABEL_ENDPOINT_UUID] == applied["uuid"]
    events = member.get(f"/api/v1/endpoints/{endpoint['uuid']}/events/").json()
    assert any(e["new_status"] == "provisioning" for e in events)

    response = member.delete(f"/api/v1/endpoints/{endpoint['uuid']}/")
    assert response.status_code == 202 and response.json()["status"] == "deleting"
    gone = _wait_for_status(member, endpoint["uuid"], {"deleted", "failed"})
    assert gone["status"] == "deleted", gone["status_message"]
    with pytest.raises(k8s.ApiException) as exc:
        k8s.CustomObjectsApi(kube_api_client).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", namespace, "inferenceservices", "chat"
        )
    assert exc.value.status == 404


def test_worker_without_a_cluster_reports_it_through_the_api(world, celery_worker):
    """Embedded mode: no KUBECONFIG for the worker; the worker still runs the task and the
    endpoint ends in a final status that says why, instead of waiting for ever."""
    member = world["member"]
    world["team"].approval_cost_threshold = None
    world["team"].save()
    response = member.post(
        "/api/v1/endpoints/",
        {
            "team": world["team"].slug,
            "name": "solo",
            "model": str(world["model"].uuid),
            "gpu_type": str(world["gpu"].uuid),
            "quantization": "bf16",
            "max_context_length": 4096,
        },
        format="json",
    )
    assert response.status_code == 202 and response.json()["status"] == "approved"
    body = _wait_for_status(
        member, response.json()["uuid"], {"failed", "provisioning", "not_deployed"}
    )
    assert body["status"] == "not_deployed"
    assert "no cluster connected" in body["status_message"]
    assert "deployments.apply_endpoint" in celery_worker.logs


def test_an_approval_made_while_the_worker_is_down_is_applied_when_it_comes_back(
    world, celery_worker
):
    """The apply message waits in Redis: kill the worker (SIGKILL), approve, start a new one."""
    import signal

    member, admin = world["member"], world["admin"]
    response = member.post(
        "/api/v1/endpoints/",
        {
            "team": world["team"].slug,
            "name": "later",
            "model": world["model"].slug,
            "gpu_type": world["gpu"].name,
            "quantization": "bf16",
            "max_context_length": 4096,
            "max_replicas": 2,
        },
        format="json",
    )
    assert response.json()["status"] == "pending_approval"
    assert celery_worker.kill(signal.SIGKILL) == -signal.SIGKILL
    assert admin.post(f"/api/v1/approvals/{response.json()['uuid']}/approve/").status_code == 202
    time.sleep(1.0)
    body = member.get(f"/api/v1/endpoints/{response.json()['uuid']}/").json()
    assert body["status"] == "approved" and body["applied_generation"] == 0  # nobody ran it
    celery_worker.start()
    body = _wait_for_status(
        member, response.json()["uuid"], {"failed", "provisioning", "not_deployed"}
    )
    assert "no cluster connected" in body["status_message"]
