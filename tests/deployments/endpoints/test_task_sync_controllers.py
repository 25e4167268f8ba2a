"""apply_endpoint / sync_statuses with what the real controllers add: the predictor
Deployment's replica counts (scaled to zero, rollouts), the PodDisruptionBudget's life cycle,
a gated model without its token Secret, and the measured cold start feeding KEDA."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.tasks import apply_endpoint, sync_statuses
from deployments.models import Endpoint
from tests.deployments.endpoints.coldstart_pods import node, pod
from tests.deployments.kserve_shapes import SHAPES

pytestmark = pytest.mark.dates


def _applied(endpoint):
    apply_endpoint(endpoint.pk, endpoint.generation)
    return Endpoint.objects.get(pk=endpoint.pk)


def _kserve(fake, endpoint, shape_name):
    """Put a controller shape (status + predictor Deployment) into the fake cluster."""
    [(_, status, deployment, _)] = [s for s in SHAPES if s[0] == shape_name]
    isvc = fake.isvc(endpoint)
    isvc["status"] = {**status, "observedGeneration": isvc["metadata"]["generation"]}
    key = ("Deployment", endpoint.namespace, f"{endpoint.isvc_name}-predictor")
    if deployment is None:
        fake.objects.pop(key, None)
        return
    fake.objects[key] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        **deployment,
        "metadata": {
            **deployment["metadata"],
            "name": key[2],
            "namespace": endpoint.namespace,
            "labels": manifests.endpoint_labels(endpoint),  # copied from the isvc by KServe
        },
    }


def _token(fake, endpoint, data=True):
    fake.objects[("Secret", endpoint.namespace, "hf-token")] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf-token", "namespace": endpoint.namespace},
        "data": {"HF_TOKEN": "aGY="} if data else {},
    }


def test_ready_with_no_replica_ready_stays_provisioning(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint)
    _token(fake_cluster, ep)
    _kserve(fake_cluster, ep, "cold-start: downloading (Ready=True, 0 of 1 ready)")
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING
    assert "0 of 1 replicas ready" in ep.status_message
    _kserve(fake_cluster, ep, "cold-start: serving")
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.READY and ep.url


def test_missing_token_secret_is_explained_first(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint)
    _kserve(fake_cluster, ep, "cold-start: downloading (Ready=True, 0 of 1 ready)")
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING
    assert ep.status_message.startswith(
        "Llama 3.1 8B Instruct is gated on Hugging Face: Secret 'hf-token' in namespace "
        "'mp-search' is missing"
    )
    _token(fake_cluster, ep, data=False)
    sync_statuses()
    ep.refresh_from_db()
    assert "has no key HF_TOKEN" in ep.status_message
    _token(fake_cluster, ep)
    sync_statuses()
    ep.refresh_from_db()
    assert "gated" not in ep.status_message


def test_public_model_never_looks_for_a_token(approved_endpoint, fake_cluster):
    approved_endpoint.model.gated = False
    approved_endpoint.model.save()
    ep = _applied(approved_endpoint)
    _kserve(fake_cluster, ep, "cold-start: downloading (Ready=True, 0 of 1 ready)")
    with mock.patch.object(fake_cluster, "get", wraps=fake_cluster.get) as get:
        sync_statuses()
    assert not [c for c in get.call_args_list if c.args[1] == "Secret"]


# Friday 2026-12-04 20:00 in Berlin, for the whole test (the endpoint's earlier events too)
@pytest.mark.time_machine(datetime(2026, 12, 4, 19, tzinfo=UTC), tick=False)
def test_off_hours_zero_is_scaled_to_zero_not_ready(scheduled, fake_cluster):
    scheduled.status, scheduled.generation, scheduled.applied_generation = "approved", 1, 0
    scheduled.save()
    ep = _applied(scheduled)
    _token(fake_cluster, ep)
    _kserve(fake_cluster, ep, "scaled to zero: Ready=True, 0 replicas")
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.SCALED_TO_ZERO
    assert ep.status_message.startswith(
        "Scaled to zero (off-hours, back at 08:00 on Monday Europe/Berlin). Requests fail"
    )


def test_rollout_shows_in_the_timeline(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint)
    _token(fake_cluster, ep)
    _kserve(fake_cluster, ep, "rollout: new template, 0 of 1 updated")
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING
    assert ep.status_message.startswith("Rolling out: 0 of 1 replicas updated")
    _kserve(fake_cluster, ep, "cold-start: serving")
    sync_statuses()
    messages = list(ep.events.values_list("message", flat=True))
    assert (
        any(m.startswith("Rolling out") for m in messages)
        or ep.events.filter(
            old_status=EndpointStatus.PROVISIONING, new_status=EndpointStatus.READY
        ).exists()
    )


def test_pdb_goes_when_the_endpoint_may_run_one_replica(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint)
    key = ("PodDisruptionBudget", ep.namespace, "chat-predictor")
    assert key in fake_cluster.objects
    Endpoint.objects.filter(pk=ep.pk).update(min_replicas=1, max_replicas=1, generation=2)
    apply_endpoint(ep.pk, 2)
    assert key not in fake_cluster.objects
    assert ("PodDisruptionBudget", "chat-predictor") in fake_cluster.deleted


def test_pdb_is_deleted_with_the_endpoint(approved_endpoint, fake_cluster, staff):
    from deployments.endpoints.services import delete_endpoint

    ep = _applied(approved_endpoint)
    delete_endpoint(ep, staff)
    ep.refresh_from_db()
    apply_endpoint(ep.pk, ep.generation)
    assert not [k for k in fake_cluster.objects if k[0] == "PodDisruptionBudget"]


def test_a_leftover_pdb_is_drift(approved_endpoint, fake_cluster):
    approved_endpoint.max_replicas = approved_endpoint.min_replicas = 1
    approved_endpoint.save()
    ep = _applied(approved_endpoint)
    pdb = manifests.pod_disruption_budget(ep)
    fake_cluster.objects[fake_cluster.key(pdb)] = pdb
    sync_statuses()
    assert fake_cluster.key(pdb) not in fake_cluster.objects
    assert "PodDisruptionBudget chat-predictor should not exist" in (
        ep.events.get(kind=EventKind.DRIFT).message
    )


@pytest.mark.time_machine(datetime(2026, 12, 8, 9, tzinfo=UTC), tick=False)  # 10:00 Berlin
def test_measured_cold_start_moves_the_scaled_object(scheduled, fake_cluster):
    scheduled.status, scheduled.generation, scheduled.applied_generation = "approved", 1, 0
    scheduled.save()
    ep = _applied(scheduled)
    _token(fake_cluster, ep)
    so_key = ("ScaledObject", ep.namespace, "chat-predictor")
    assert fake_cluster.objects[so_key]["spec"]["triggers"][1]["metadata"]["start"] == (
        "45 7 * * 1-5"
    )
    Endpoint.objects.filter(pk=ep.pk).update(created_at=timezone.now() - timedelta(hours=1))
    now = timezone.now()
    # A pod that waited for a node Karpenter launched for it: 1,700 s from creation to Ready.
    started = pod(now, created=-1700, scheduled=-1600, weights=-400, ready=0, endpoint=ep)
    fake_cluster.objects[("Pod", ep.namespace, started["metadata"]["name"])] = started
    fake_cluster.objects[("Node", None, "gpu-node-1")] = node(now, created=-1690, ready=-1610)
    _kserve(fake_cluster, ep, "cold-start: serving")
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.READY
    assert ep.cold_start_seconds == 1700
    so = fake_cluster.objects[so_key]
    assert so["spec"]["triggers"][1]["metadata"]["start"] == "30 7 * * 1-5"  # 30 min early
    window = so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert window["stabilizationWindowSeconds"] == ep.cold_start_seconds
    assert ep.events.filter(kind=EventKind.INFO, message__startswith="Planned cold start").exists()
    assert ep.events.filter(message__startswith="Start of pod chat-predictor-abc on a new node")
    assert sync_statuses() == 0  # no drift afterwards
    assert ep.cold_starts.count() == 1  # the same pod is recorded once


def test_a_quick_config_change_is_not_a_cold_start(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint)
    _token(fake_cluster, ep)
    _kserve(fake_cluster, ep, "cold-start: serving")
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.READY and ep.cold_start_seconds is None
