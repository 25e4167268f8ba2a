"""sync_statuses: status mapping, cold-start durations, explanations, drift repair, lost applies."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.tasks import apply_endpoint, sync_statuses
from deployments.models import Endpoint
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import TransientClusterError

pytestmark = pytest.mark.dates


def _applied(endpoint, fake_cluster):
    apply_endpoint(endpoint.pk, endpoint.generation)
    return Endpoint.objects.get(pk=endpoint.pk)


@pytest.mark.time_machine(datetime(2026, 12, 4, 19, tzinfo=UTC), tick=False)
def test_ready_isvc_marks_ready_with_url_and_cold_start_duration(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint, fake_cluster)
    Endpoint.objects.filter(pk=ep.pk).update(
        status_changed_at=timezone.now() - timedelta(seconds=95)
    )
    fake_cluster.set_status(ep, ready=True, url="http://chat-mp-search.example.com")
    assert sync_statuses() == 1
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.READY
    assert ep.url == "http://chat-mp-search.example.com"
    event = ep.events.filter(new_status=EndpointStatus.READY).get()
    assert event.old_status == EndpointStatus.PROVISIONING
    assert event.duration_seconds == 95  # the cold start (the clock is frozen)


def test_a_worker_clock_behind_the_last_transition_does_not_crash_the_sync(
    approved_endpoint, fake_cluster, caplog
):
    """Another worker (or the clock before an NTP step) wrote the last transition 10 minutes
    ahead of this worker's clock: the sync records the change at that time, duration 0."""
    ep = _applied(approved_endpoint, fake_cluster)
    ahead = timezone.now() + timedelta(minutes=10)
    Endpoint.objects.filter(pk=ep.pk).update(status_changed_at=ahead)
    fake_cluster.set_status(ep, ready=True, url="http://chat-mp-search.example.com")
    assert sync_statuses() == 1
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.READY and ep.status_changed_at == ahead
    assert ep.events.get(new_status=EndpointStatus.READY).duration_seconds == 0
    assert f"endpoint={ep.pk} clock skew" in caplog.text


def test_sync_twice_records_one_event_and_changes_nothing(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint, fake_cluster)
    fake_cluster.set_status(ep, ready=True)
    sync_statuses()
    events = ep.events.count()
    applies = len(fake_cluster.applied)
    updated = Endpoint.objects.get(pk=ep.pk).updated_at
    assert sync_statuses() == 0
    assert ep.events.count() == events
    assert len(fake_cluster.applied) == applies
    assert Endpoint.objects.get(pk=ep.pk).updated_at == updated


def test_not_ready_is_explained_by_conditions_and_pod_events(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint, fake_cluster)
    fake_cluster.set_status(ep, ready=False)
    fake_cluster.isvc(ep)["status"]["conditions"][0]["message"] = "0/1 replicas available"
    fake_cluster.events_by_ns[ep.namespace] = [
        {
            "type": "Warning",
            "reason": "FailedCreate",
            "lastTimestamp": "2026-01-01T10:00:00Z",
            "involvedObject": {"kind": "ReplicaSet", "name": "chat-predictor-5d9f"},
            "message": 'pods "chat-predictor-5d9f-x" is forbidden: exceeded quota: modelport-gpu, '
            "requested: requests.nvidia.com/gpu=1, used: 12, limited: 12",
        },
        {
            "type": "Warning",
            "reason": "FailedScheduling",
            "involvedObject": {"kind": "Pod", "name": "other-predictor-1"},
            "message": "not mine",
        },
    ]
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING
    assert "PredictorReady: 0/1 replicas available" in ep.status_message
    assert "GPU quota exceeded" in ep.status_message
    assert "not mine" not in ep.status_message


def test_missing_isvc_is_reapplied_and_the_timeline_says_drift_repaired(
    approved_endpoint, fake_cluster
):
    ep = _applied(approved_endpoint, fake_cluster)
    del fake_cluster.objects[("InferenceService", ep.namespace, "chat")]
    assert sync_statuses() == 1
    assert fake_cluster.isvc(ep) is not None
    drift = ep.events.get(kind=EventKind.DRIFT)
    assert drift.message == "Drift repaired: InferenceService chat was missing."
    sync_statuses()  # observes the re-created object ("Waiting for the KServe controller.")
    assert sync_statuses() == 0  # repaired: nothing more to do
    assert ep.events.filter(kind=EventKind.DRIFT).count() == 1
    assert len(fake_cluster.applied) == 2  # the first apply and the repair


def so_after(fake_cluster, ep):
    return fake_cluster.objects[("ScaledObject", ep.namespace, "chat-predictor")]


def test_hand_edited_objects_are_put_back(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint, fake_cluster)
    fake_cluster.isvc(ep)["spec"]["predictor"]["nodeSelector"]["karpenter.sh/capacity-type"] = "x"
    so = fake_cluster.objects[("ScaledObject", ep.namespace, "chat-predictor")]
    so["spec"]["maxReplicaCount"] = 50
    so["metadata"]["labels"]["extra"] = "fine"  # fields we do not own are not drift
    sync_statuses()
    assert fake_cluster.isvc(ep)["spec"]["predictor"]["nodeSelector"][
        "karpenter.sh/capacity-type"
    ] == ("on-demand")
    assert so_after(fake_cluster, ep)["spec"]["maxReplicaCount"] == 3
    assert "was changed by hand" in ep.events.get(kind=EventKind.DRIFT).message


def test_quota_edited_by_hand_is_put_back(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint, fake_cluster)
    quota = fake_cluster.objects[("ResourceQuota", ep.namespace, "modelport-gpu")]
    quota["spec"]["hard"]["requests.nvidia.com/gpu"] = "100"
    sync_statuses()
    quota = fake_cluster.objects[("ResourceQuota", ep.namespace, "modelport-gpu")]
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "12"


def test_stale_observed_generation_changes_nothing(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint, fake_cluster)
    fake_cluster.set_status(ep, ready=True)
    fake_cluster.isvc(ep)["status"]["observedGeneration"] = 0
    assert sync_statuses() == 0
    assert Endpoint.objects.get(pk=ep.pk).status == EndpointStatus.PROVISIONING


def test_stopped_endpoint_is_not_flipped_back_before_kserve_stops_it(
    approved_endpoint, fake_cluster
):
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(desired_state=DesiredState.STOPPED)
    ep = _applied(approved_endpoint, fake_cluster)
    fake_cluster.set_status(ep, ready=True)  # KServe has not processed the stop yet
    sync_statuses()
    assert Endpoint.objects.get(pk=ep.pk).status == EndpointStatus.STOPPED


def test_lost_apply_is_enqueued_again_after_a_while(approved_endpoint, fake_cluster, settings):
    settings.KUBE_REAPPLY_AFTER_SECONDS = 60
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(
        updated_at=timezone.now() - timedelta(seconds=61)
    )
    with mock.patch.object(apply_endpoint, "delay") as delay:
        sync_statuses()
    delay.assert_called_once_with(approved_endpoint.pk, 1)


def test_recent_unapplied_endpoint_is_left_to_its_task(approved_endpoint, fake_cluster):
    with mock.patch.object(apply_endpoint, "delay") as delay:
        sync_statuses()
    delay.assert_not_called()
    assert fake_cluster.applied == []


def test_unreachable_cluster_leaves_everything_for_the_next_run(approved_endpoint, fake_cluster):
    ep = _applied(approved_endpoint, fake_cluster)
    fake_cluster.fail_with = TransientClusterError("connection refused")
    assert sync_statuses() == 0
    assert Endpoint.objects.get(pk=ep.pk).status == EndpointStatus.PROVISIONING


def test_without_a_cluster_sync_does_nothing(approved_endpoint, no_cluster):
    assert sync_statuses() == 0


def test_apply_being_retried_is_not_enqueued_again(approved_endpoint, fake_cluster, settings):
    settings.KUBE_REAPPLY_AFTER_SECONDS = 60
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(
        updated_at=timezone.now() - timedelta(seconds=600)
    )
    fake_cluster.fail_with = TransientClusterError("connection refused")
    with pytest.raises(TransientClusterError):
        apply_endpoint(approved_endpoint.pk, 1)  # a retry attempt just happened
    fake_cluster.fail_with = None
    with mock.patch.object(apply_endpoint, "delay") as delay:
        sync_statuses()
    delay.assert_not_called()


def test_a_watcher_with_the_live_objects_records_what_a_sync_would(approved_endpoint, fake_cluster):
    """The public hook for a caller that already holds the live objects (a watch): the
    product's observe(workload, live) and record(workload, observation), no cluster read."""
    from deployments.endpoints.reconcile import ENDPOINTS

    ep = _applied(approved_endpoint, fake_cluster)
    fake_cluster.set_status(ep, ready=True, url="http://chat-mp-search.example.com")
    live = {  # what a watch on the endpoint's namespace holds, by kind
        kind: obj
        for (kind, namespace, _name), obj in fake_cluster.objects.items()
        if namespace == ep.namespace
        and kind in ("InferenceService", "ScaledObject", "PodDisruptionBudget")
    }
    calls = fake_cluster.calls
    observation = ENDPOINTS.observe(ep, live)
    assert observation.status == EndpointStatus.READY
    assert ENDPOINTS.record(ep, observation) is True
    assert ENDPOINTS.record(ep, observation) is False  # compare-and-set: twice is once
    assert fake_cluster.calls == calls  # nothing read from the cluster
    ep.refresh_from_db()
    assert (ep.status, ep.url) == (EndpointStatus.READY, "http://chat-mp-search.example.com")
