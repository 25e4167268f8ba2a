"""apply_endpoint: apply, compare-and-set, idempotency, failures, delete, embedded dev mode.

Unit tests use the in-memory `fake_cluster`; the same paths run against the real apiserver in
test_cluster_lifecycle.py.
"""

import pytest

from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.reconcile import NO_CLUSTER_MESSAGE
from deployments.endpoints.tasks import apply_endpoint
from deployments.models import Endpoint
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import PermanentClusterError, TransientClusterError


def _reload(ep):
    return Endpoint.objects.get(pk=ep.pk)


def test_apply_renders_applies_and_marks_provisioning(approved_endpoint, fake_cluster):
    assert apply_endpoint(approved_endpoint.pk, 1) == "applied"
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.PROVISIONING
    assert ep.applied_generation == 1
    [objects] = fake_cluster.applied
    assert [o["kind"] for o in objects] == [
        "Namespace",
        "ResourceQuota",
        "InferenceService",
        "ScaledObject",
        "PodDisruptionBudget",
    ]
    event = ep.events.first()
    assert (event.old_status, event.new_status) == ("approved", "provisioning")


def test_apply_is_one_locked_read_one_update_and_one_event(
    approved_endpoint, fake_cluster, django_assert_max_num_queries
):
    # savepoint, SELECT ... FOR UPDATE, compare-and-set UPDATE (applied_generation + status),
    # INSERT event, release: the row is not locked and read a second time. Plus the renderer's
    # one read of the model's caches (manifests.is_cached: the KServe node group annotation).
    with django_assert_max_num_queries(6):
        assert apply_endpoint(approved_endpoint.pk, 1) == "applied"
    ep = _reload(approved_endpoint)
    assert (ep.applied_generation, ep.status) == (1, EndpointStatus.PROVISIONING)
    assert ep.updated_at > approved_endpoint.updated_at
    assert ep.events.count() == 1


def test_apply_twice_is_one_apply_one_event_and_unchanged_state(approved_endpoint, fake_cluster):
    apply_endpoint(approved_endpoint.pk, 1)
    before = _reload(approved_endpoint)
    events = before.events.count()
    assert apply_endpoint(approved_endpoint.pk, 1) == "already-applied"
    after = _reload(approved_endpoint)
    assert len(fake_cluster.applied) == 1
    assert after.events.count() == events
    assert (after.status, after.status_message, after.applied_generation, after.updated_at) == (
        before.status,
        before.status_message,
        before.applied_generation,
        before.updated_at,
    )


def test_apply_is_noop_when_generation_is_stale(approved_endpoint, fake_cluster):
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(generation=2)
    assert apply_endpoint(approved_endpoint.pk, 1) == "stale"
    ep = _reload(approved_endpoint)
    assert fake_cluster.applied == []
    assert ep.applied_generation == 0 and ep.status == EndpointStatus.APPROVED
    assert not ep.events.exists()


def test_apply_is_noop_for_a_deleted_row(approved_endpoint, fake_cluster):
    pk = approved_endpoint.pk
    Endpoint.objects.filter(pk=pk).delete()
    assert apply_endpoint(pk, 1) == "gone"
    assert fake_cluster.applied == []


def test_pending_approval_is_never_applied(approved_endpoint, fake_cluster):
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(status=EndpointStatus.PENDING_APPROVAL)
    assert apply_endpoint(approved_endpoint.pk, 1) == "not-applicable"
    assert fake_cluster.applied == []


def test_transient_error_propagates_for_retry_and_changes_nothing_but_the_message(
    approved_endpoint, fake_cluster
):
    fake_cluster.fail_with = TransientClusterError(
        "apply InferenceService: etcd timeout (HTTP 503)"
    )
    with pytest.raises(TransientClusterError):
        apply_endpoint(approved_endpoint.pk, 1)
    ep = _reload(approved_endpoint)
    assert ep.applied_generation == 0 and ep.status == EndpointStatus.APPROVED
    assert "retrying" in ep.status_message and "HTTP 503" in ep.status_message
    fake_cluster.fail_with = None
    assert apply_endpoint(approved_endpoint.pk, 1) == "applied"
    assert _reload(approved_endpoint).status == EndpointStatus.PROVISIONING


def test_task_retries_transient_errors_with_jittered_backoff():
    assert TransientClusterError in apply_endpoint.autoretry_for
    assert PermanentClusterError not in apply_endpoint.autoretry_for
    assert apply_endpoint.retry_jitter is True and apply_endpoint.retry_backoff
    assert apply_endpoint.max_retries >= 5
    assert apply_endpoint.acks_late is True


def test_permanent_error_marks_failed_with_the_apiserver_message(approved_endpoint, fake_cluster):
    message = (
        'apply InferenceService mp-search/chat: InferenceService.serving.kserve.io "chat" '
        "is invalid: spec.predictor.minReplicas: Invalid value: -1 (HTTP 422)"
    )
    fake_cluster.fail_with = PermanentClusterError(message)
    assert apply_endpoint(approved_endpoint.pk, 1) == "failed"
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.FAILED
    assert ep.status_message == message
    assert ep.applied_generation == 1  # attempted: not retried by the reconcile safety net
    assert ep.events.filter(kind=EventKind.ERROR, message=message).count() == 1
    assert apply_endpoint(approved_endpoint.pk, 1) == "already-applied"


def test_stop_applies_the_stop_annotation_and_marks_stopped(approved_endpoint, fake_cluster):
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(desired_state=DesiredState.STOPPED)
    apply_endpoint(approved_endpoint.pk, 1)
    assert _reload(approved_endpoint).status == EndpointStatus.STOPPED
    isvc = fake_cluster.isvc(approved_endpoint)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/stop"] == "true"


def test_delete_removes_the_endpoint_objects_and_ends_deleted(approved_endpoint, fake_cluster):
    apply_endpoint(approved_endpoint.pk, 1)
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(
        desired_state=DesiredState.ABSENT, generation=2, status=EndpointStatus.DELETING
    )
    assert apply_endpoint(approved_endpoint.pk, 2) == "deleted"
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.DELETED and ep.deleted_at is not None
    assert fake_cluster.isvc(ep) is None
    assert ("ScaledObject", "chat-predictor") in fake_cluster.deleted
    # namespace and quota belong to the team and stay
    assert ("Namespace", None, "mp-search") in fake_cluster.objects


def test_delete_treats_already_missing_objects_as_done(approved_endpoint, fake_cluster):
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(
        desired_state=DesiredState.ABSENT, status=EndpointStatus.DELETING
    )
    assert apply_endpoint(approved_endpoint.pk, 1) == "deleted"
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.DELETED
    assert ep.status_message == "Nothing left to delete."


def _delete_requested(endpoint):
    apply_endpoint(endpoint.pk, 1)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        desired_state=DesiredState.ABSENT, generation=2, status=EndpointStatus.DELETING
    )


def test_delete_held_by_finalizers_stays_deleting_until_the_objects_are_gone(
    approved_endpoint, fake_cluster, settings
):
    """KServe and KEDA keep their objects (deletionTimestamp set) until their finalizers ran:
    the endpoint is not Deleted while its InferenceService still exists."""
    from deployments.endpoints.tasks import sync_statuses

    settings.KUBE_DELETE_WAIT_SECONDS = 0
    fake_cluster.finalized_kinds = {"InferenceService", "ScaledObject"}
    _delete_requested(approved_endpoint)
    assert apply_endpoint(approved_endpoint.pk, 2) == "applied"
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.DELETING and ep.deleted_at is None
    assert ep.applied_generation == 2  # the delete is sent: not re-enqueued as a lost apply
    assert ep.status_message.startswith(
        "Deleting: waiting for ScaledObject chat-predictor, InferenceService chat to be removed"
    )
    assert fake_cluster.isvc(ep)["metadata"]["deletionTimestamp"]
    assert apply_endpoint(approved_endpoint.pk, 2) == "already-applied"

    assert sync_statuses() == 0  # still held: nothing recorded, nothing applied again
    assert _reload(ep).status == EndpointStatus.DELETING
    assert fake_cluster.isvc(ep)["metadata"]["deletionTimestamp"]

    fake_cluster.finalize()
    assert sync_statuses() == 1
    ep = _reload(ep)
    assert ep.status == EndpointStatus.DELETED and ep.deleted_at is not None
    assert ep.status_message == "Deleted: its objects are gone from the cluster."
    assert ep.events.filter(
        old_status=EndpointStatus.DELETING, new_status=EndpointStatus.DELETED
    ).exists()
    assert sync_statuses() == 0  # deleted endpoints are not observed any more


def test_delete_waits_for_finalizers_that_finish_within_the_wait(
    approved_endpoint, fake_cluster, settings, monkeypatch
):
    from deployments.endpoints import reconcile

    settings.KUBE_DELETE_WAIT_SECONDS = 60
    fake_cluster.finalized_kinds = {"InferenceService"}
    monkeypatch.setattr(reconcile.time, "sleep", lambda seconds: fake_cluster.finalize())
    _delete_requested(approved_endpoint)
    assert apply_endpoint(approved_endpoint.pk, 2) == "deleted"
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.DELETED
    assert ep.status_message == "Deleted PodDisruptionBudget, ScaledObject, InferenceService."
    assert fake_cluster.isvc(ep) is None


def test_without_a_cluster_present_endpoints_are_not_deployed_with_a_clear_message(
    approved_endpoint, no_cluster
):
    assert apply_endpoint(approved_endpoint.pk, 1) == "no-cluster"
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.NOT_DEPLOYED
    assert ep.status_message == NO_CLUSTER_MESSAGE
    assert ep.applied_generation == 0  # applied for real once a cluster is configured


def test_without_a_cluster_delete_still_completes(approved_endpoint, no_cluster):
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(
        desired_state=DesiredState.ABSENT, status=EndpointStatus.DELETING
    )
    apply_endpoint(approved_endpoint.pk, 1)
    assert _reload(approved_endpoint).status == EndpointStatus.DELETED


def test_request_through_the_service_applies_on_commit(
    team, member, endpoint_data, fake_cluster, django_capture_on_commit_callbacks
):
    from deployments.endpoints.services import request_endpoint

    with django_capture_on_commit_callbacks(execute=True):
        ep = request_endpoint(team, member, endpoint_data)
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING and ep.applied_generation == 1
    # Replica bounds live in the ScaledObject only (KServe ignores them with `external`).
    scaled = fake_cluster.objects[("ScaledObject", ep.namespace, f"{ep.isvc_name}-predictor")]
    assert scaled["spec"]["maxReplicaCount"] == 2
    assert "maxReplicas" not in fake_cluster.isvc(ep)["spec"]["predictor"]
