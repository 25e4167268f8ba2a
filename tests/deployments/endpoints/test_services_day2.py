"""Day-2 rules: scale, update, stop/start, delete (services.py)."""

import pytest

from deployments.endpoints import services
from deployments.endpoints.choices import EndpointStatus
from deployments.models import EndpointEvent
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import DeploymentError, InvalidTransition, QuotaExceeded
from portal.models import AuditLog
from tests.factories import EndpointFactory

SCALE_QUERIES = 15  # 22 before the row lock's held values were no longer looked up again


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    return EndpointFactory(
        team=team,
        gpu_type=gpu_l4,
        model=llama_8b,
        min_replicas=1,
        max_replicas=2,
        offering=gpu_l4.offerings.get(gpus_per_node=1),
    )


@pytest.mark.usefixtures("in_november")
def test_scale_bumps_generation_reprices_and_enqueues(
    endpoint, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        ep = services.scale_endpoint(endpoint, member, 0, 4)
    assert (ep.min_replicas, ep.max_replicas, ep.generation) == (0, 4, 2)
    assert ep.status == EndpointStatus.APPLYING
    assert str(ep.monthly_cost_min) == "0.00" and str(ep.monthly_cost_max) == "2304.00"
    assert len(callbacks) == 1
    assert AuditLog.objects.filter(
        action="endpoint.scale", before__max_replicas=2, after__max_replicas=4
    ).exists()


def test_scale_min_above_max_is_refused(endpoint, member):
    with pytest.raises(DeploymentError, match="cannot be above") as exc:
        services.scale_endpoint(endpoint, member, 3, 2)
    assert exc.value.field == "min_replicas"


def test_scale_over_quota_is_refused_and_nothing_changes(team, endpoint, member):
    team.max_gpus = 3
    team.save()
    with pytest.raises(QuotaExceeded):
        services.scale_endpoint(endpoint, member, 1, 4)
    endpoint.refresh_from_db()
    assert (endpoint.max_replicas, endpoint.generation) == (2, 1)


def test_scaling_a_pending_request_changes_it_without_a_rollout(
    endpoint, member, django_capture_on_commit_callbacks
):
    endpoint.status = EndpointStatus.PENDING_APPROVAL
    endpoint.save()
    with django_capture_on_commit_callbacks() as callbacks:
        ep = services.scale_endpoint(endpoint, member, 1, 1)
    assert ep.generation == 1 and ep.status == EndpointStatus.PENDING_APPROVAL
    assert callbacks == []


def test_update_with_no_real_change_is_a_noop(endpoint, member):
    ep = services.update_endpoint(endpoint, member, {"quantization": endpoint.quantization})
    assert ep.generation == 1
    assert not EndpointEvent.objects.filter(endpoint=endpoint).exists()


def test_update_rejects_a_quantization_the_model_does_not_allow(endpoint, member):
    with pytest.raises(DeploymentError) as exc:
        services.update_endpoint(endpoint, member, {"quantization": "gptq"})
    assert exc.value.field == "quantization"


def test_stop_sets_desired_stopped_and_start_brings_it_back(endpoint, member):
    ep = services.stop_endpoint(endpoint, member)
    assert ep.desired_state == DesiredState.STOPPED and ep.generation == 2
    with pytest.raises(InvalidTransition, match="already stopped"):
        services.stop_endpoint(ep, member)
    ep = services.start_endpoint(ep, member)
    assert ep.desired_state == DesiredState.PRESENT and ep.generation == 3


def test_start_of_a_running_endpoint_is_refused(endpoint, member):
    with pytest.raises(InvalidTransition, match="Only a stopped endpoint"):
        services.start_endpoint(endpoint, member)


def test_stop_of_a_pending_request_is_refused(endpoint, member):
    endpoint.status = EndpointStatus.PENDING_APPROVAL
    endpoint.save()
    with pytest.raises(InvalidTransition, match="delete it instead"):
        services.stop_endpoint(endpoint, member)


def test_delete_marks_absent_and_enqueues_once(
    endpoint, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        ep = services.delete_endpoint(endpoint, member)
        again = services.delete_endpoint(ep, member)
    assert ep.desired_state == DesiredState.ABSENT and ep.status == EndpointStatus.DELETING
    assert again.generation == ep.generation == 2
    assert len(callbacks) == 1


def test_delete_of_a_never_applied_request_ends_immediately(
    endpoint, member, django_capture_on_commit_callbacks
):
    endpoint.status = EndpointStatus.PENDING_APPROVAL
    endpoint.applied_generation = 0
    endpoint.save()
    with django_capture_on_commit_callbacks() as callbacks:
        ep = services.delete_endpoint(endpoint, member)
    assert ep.status == EndpointStatus.DELETED and ep.deleted_at is not None
    assert callbacks == []


def test_deleted_endpoints_cannot_be_changed(endpoint, member):
    services.delete_endpoint(endpoint, member)
    with pytest.raises(InvalidTransition):
        services.scale_endpoint(endpoint, member, 1, 1)
    with pytest.raises(InvalidTransition):
        services.update_endpoint(endpoint, member, {"max_context_length": 4096})


def test_deleted_name_can_be_reused(team, endpoint, member, endpoint_data):
    endpoint.name = endpoint_data["name"]
    endpoint.status = EndpointStatus.DELETED
    endpoint.desired_state = DesiredState.ABSENT
    endpoint.save()
    ep = services.request_endpoint(team, member, endpoint_data)
    assert ep.pk != endpoint.pk


def test_deleting_frees_quota(team, endpoint, member, endpoint_data):
    team.max_gpus = 2
    team.save()
    with pytest.raises(QuotaExceeded):
        services.request_endpoint(team, member, {**endpoint_data, "name": "other"})
    services.delete_endpoint(endpoint, member)
    assert services.request_endpoint(team, member, {**endpoint_data, "name": "other"})


def test_scale_runs_no_existence_or_uniqueness_queries_for_values_it_does_not_set(
    endpoint, member, django_assert_num_queries
):
    # full_clean of the locked row: the replica check constraint is still asked, but the model,
    # GPU type, team and UUID the row already holds are not looked up again (the database
    # enforces them): 15 statements, 22 before.
    with django_assert_num_queries(SCALE_QUERIES):
        services.scale_endpoint(endpoint, member, 1, 3)


def test_clean_of_a_change_still_checks_what_the_change_sets(endpoint, team):
    from django.core.exceptions import ValidationError

    locked = services._lock(endpoint)
    locked.min_replicas, locked.max_replicas = 3, 2
    with pytest.raises(ValidationError) as exc:
        services._clean_locked(locked, {"min_replicas", "max_replicas"})
    assert exc.value.message_dict["min_replicas"] == [
        "Minimum replicas cannot be above maximum replicas."
    ]

    locked = services._lock(endpoint)
    locked.model_id = 10**9
    with pytest.raises(ValidationError) as exc:
        services._clean_locked(locked, {"model"})
    assert "model" in exc.value.message_dict

    other = EndpointFactory(team=team, gpu_type=endpoint.gpu_type, model=endpoint.model)
    locked = services._lock(endpoint)
    locked.name = other.name
    with pytest.raises(ValidationError) as exc:
        services._clean_locked(locked, {"name"})
    assert "already exists" in str(exc.value) or "unique" in str(exc.value).lower()
