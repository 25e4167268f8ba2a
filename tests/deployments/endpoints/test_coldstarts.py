"""Recording starts from the pods' own stages during sync_statuses, the per-model history,
and the 57-minute 'cold start' of issue 26 that must never steer autoscaling again."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deployments.endpoints import coldstart_plans, coldstarts, manifests, schedule
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.tasks import apply_endpoint, sync_statuses
from deployments.models import ColdStart, Endpoint
from deployments.workloads.errors import PermanentClusterError
from tests.deployments.endpoints.coldstart_pods import node, pod
from tests.deployments.endpoints.test_task_sync_controllers import _kserve, _token
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates
NOW = datetime(2026, 12, 8, 9, tzinfo=UTC)  # a Tuesday, 10:00 in Berlin


def _serving(fake, endpoint, **stages):
    endpoint.status, endpoint.generation, endpoint.applied_generation = "approved", 1, 0
    endpoint.save()
    apply_endpoint(endpoint.pk, 1)
    ep = Endpoint.objects.get(pk=endpoint.pk)
    _token(fake, ep)
    if stages:
        started = pod(timezone.now(), endpoint=ep, **stages)
        fake.objects[("Pod", ep.namespace, started["metadata"]["name"])] = started
    _kserve(fake, ep, "cold-start: serving")
    return ep


def _scale_down_window(fake, ep) -> int:
    so = fake.objects[("ScaledObject", ep.namespace, "chat-predictor")]
    return so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
        "stabilizationWindowSeconds"
    ]


@pytest.mark.time_machine(NOW, tick=False)
def test_an_old_provisioning_status_is_never_measured_as_a_57_minute_cold_start(
    scheduled, fake_cluster
):
    """The local cluster was recreated under an endpoint that sat in Provisioning in the old
    database; its new pod was Ready seconds after it was scheduled."""
    ep = _serving(fake_cluster, scheduled)
    estimate_window = _scale_down_window(fake_cluster, ep)
    Endpoint.objects.filter(pk=ep.pk).update(
        status=EndpointStatus.PROVISIONING,
        status_changed_at=timezone.now() - timedelta(seconds=3420),  # 57 min
        created_at=timezone.now() - timedelta(days=2),
    )
    started = pod(timezone.now(), created=-12, scheduled=-11, weights=-8, ready=-3, endpoint=ep)
    fake_cluster.objects[("Pod", ep.namespace, started["metadata"]["name"])] = started
    fake_cluster.objects[("Node", None, "gpu-node-1")] = node(
        timezone.now(), created=-600, ready=-590
    )
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.READY
    [start] = ep.cold_starts.all()
    assert (start.accepted, start.seconds, start.node_launched) == (True, 9, False)
    messages = list(ep.events.values_list("message", flat=True))
    assert not [m for m in messages if "57 min" in m or "Measured cold start" in m]
    # The figure the pod supports (9 s on a warm node, plus the estimated node launch) is
    # what plans: nowhere near the hour the old status claims.
    assert ep.cold_start_seconds == 9 + 420
    assert manifests.prewarm_minutes(ep) == 10
    window = _scale_down_window(fake_cluster, ep)
    assert window == max(schedule.MIN_SCALE_DOWN_WINDOW_SECONDS, 429) < estimate_window
    assert window < 3403


@pytest.mark.time_machine(NOW, tick=False)
def test_a_ready_pod_without_stages_records_why_and_leaves_the_estimate_in_force(
    scheduled, fake_cluster
):
    ep = _serving(fake_cluster, scheduled, created=-30, scheduled=None, weights=-20, ready=-5)
    before = fake_cluster.objects[("ScaledObject", ep.namespace, "chat-predictor")]
    sync_statuses()
    ep.refresh_from_db()
    [start] = ep.cold_starts.all()
    assert not start.accepted and "no 'scheduled' time" in start.note
    assert ep.cold_start_seconds is None
    assert fake_cluster.objects[("ScaledObject", ep.namespace, "chat-predictor")] == before
    assert ep.events.filter(message__contains="not measured: the pod has no 'scheduled'")


@pytest.mark.time_machine(NOW, tick=False)
def test_a_pod_older_than_the_endpoint_never_steers_autoscaling(scheduled, fake_cluster):
    ep = _serving(fake_cluster, scheduled)
    Endpoint.objects.filter(pk=ep.pk).update(created_at=timezone.now() - timedelta(seconds=60))
    started = pod(timezone.now(), created=-3500, scheduled=-3490, weights=-3400, ready=-100)
    started["metadata"]["labels"] = manifests.endpoint_labels(ep)
    fake_cluster.objects[("Pod", ep.namespace, started["metadata"]["name"])] = started
    sync_statuses()
    ep.refresh_from_db()
    assert ep.cold_start_seconds is None
    assert ep.cold_starts.get().note == "the pod is older than the endpoint (left from before)"


@pytest.mark.time_machine(NOW, tick=False)
def test_recording_twice_keeps_one_row_and_one_timeline_line(scheduled, fake_cluster):
    ep = _serving(fake_cluster, scheduled, created=-200, scheduled=-199, weights=-100, ready=-10)
    Endpoint.objects.filter(pk=ep.pk).update(created_at=timezone.now() - timedelta(hours=1))
    ep.refresh_from_db()
    pods = fake_cluster.list("v1", "Pod", ep.namespace)
    assert coldstarts.record_starts(fake_cluster, ep, pods) is True
    assert coldstarts.record_starts(fake_cluster, ep, pods) is False
    assert ep.cold_starts.count() == 1
    assert ep.events.filter(message__startswith="Start of pod").count() == 1


@pytest.mark.time_machine(NOW, tick=False)
def test_an_unreadable_node_leaves_the_node_stages_out(scheduled, fake_cluster, monkeypatch):
    ep = _serving(fake_cluster, scheduled, created=-90, scheduled=-89, weights=-50, ready=-1)
    Endpoint.objects.filter(pk=ep.pk).update(created_at=timezone.now() - timedelta(hours=1))
    ep.refresh_from_db()

    def forbidden(api_version, kind, name, namespace=None):
        raise PermanentClusterError("nodes is forbidden")

    monkeypatch.setattr(fake_cluster, "get", forbidden)
    coldstarts.record_starts(fake_cluster, ep, fake_cluster.list("v1", "Pod", ep.namespace))
    start = ep.cold_starts.get()
    assert start.accepted and start.seconds == 89 and start.node_launched_at is None


def _history(ep, *rows):
    for i, (seconds, launched, cached) in enumerate(rows):
        ready = NOW - timedelta(hours=i)
        ColdStart.objects.create(
            endpoint=ep,
            model=ep.model,
            gpu_type=ep.gpu_type,
            pod_uid=f"uid-{ep.pk}-{i}",
            pod_name=f"p{i}",
            pending_at=ready - timedelta(seconds=seconds),
            engine_ready_at=ready,
            seconds=seconds,
            node_launched=launched,
            cached=cached,
            accepted=True,
        )


def test_the_plan_is_the_p95_of_the_models_starts_on_that_gpu(golden_endpoint):
    other_gpu = EndpointFactory(model=golden_endpoint.model)
    _history(
        golden_endpoint,
        (200, True, False),
        (260, True, False),
        (240, True, False),
        (50, False, False),
    )
    _history(other_gpu, (900, True, False))
    ColdStart.objects.create(
        endpoint=golden_endpoint,
        model=golden_endpoint.model,
        gpu_type=golden_endpoint.gpu_type,
        pod_uid="refused",
        pod_name="old",
        seconds=3403,
        accepted=False,
    )
    plan = coldstart_plans.plan_for_endpoint(golden_endpoint)
    assert (plan.from_zero_seconds, plan.warm_seconds, plan.samples) == (260, 50, 4)
    assert (plan.p50_seconds, plan.p95_seconds) == (200, 260)


def test_once_the_model_is_cached_only_cached_starts_plan(golden_endpoint):
    from deployments.models import ModelCache

    _history(golden_endpoint, (600, True, False), (650, True, False), (90, True, True))
    assert coldstart_plans.plan_for_endpoint(golden_endpoint).from_zero_seconds == 650
    ModelCache.objects.create(
        model=golden_endpoint.model, gpu_type=golden_endpoint.gpu_type, quantization="bf16"
    )
    assert coldstart_plans.plan_for_endpoint(golden_endpoint).from_zero_seconds == 90
