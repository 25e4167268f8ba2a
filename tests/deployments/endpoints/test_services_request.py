from decimal import Decimal

import pytest

from deployments.endpoints import services
from deployments.endpoints.choices import EndpointStatus
from deployments.workloads.errors import DuplicateEndpoint, QuotaExceeded
from portal.models import AuditLog

pytestmark = pytest.mark.dates


@pytest.mark.django_db
@pytest.mark.usefixtures("in_november")
def test_request_within_rules_is_approved_and_enqueued(
    team, member, endpoint_data, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        ep = services.request_endpoint(team, member, endpoint_data)
    assert ep.status == EndpointStatus.APPROVED
    assert ep.monthly_cost_min == Decimal("576.00")  # 0.80/h x 720 h (November) x 1 replica
    assert ep.monthly_cost_max == Decimal("1152.00")
    assert len(callbacks) == 1
    assert AuditLog.objects.filter(action="endpoint.request", object_id=str(ep.uuid)).exists()


@pytest.mark.django_db
def test_request_over_cost_threshold_waits_for_approval(
    team, member, endpoint_data, django_capture_on_commit_callbacks
):
    team.approval_cost_threshold = Decimal("1000")
    team.save()
    with django_capture_on_commit_callbacks() as callbacks:
        ep = services.request_endpoint(team, member, endpoint_data)
    assert ep.status == EndpointStatus.PENDING_APPROVAL
    assert "approval threshold" in ep.status_message
    assert "($" in ep.status_message  # money formatted, not a raw "(10044.80)"
    assert callbacks == []


@pytest.mark.django_db
def test_request_over_gpu_quota_is_refused(team, member, endpoint_data):
    team.max_gpus = 1
    team.save()
    with pytest.raises(QuotaExceeded, match="Needs 2 GPUs"):
        services.request_endpoint(team, member, endpoint_data)


@pytest.mark.django_db
def test_duplicate_name_is_refused(team, member, endpoint_data):
    services.request_endpoint(team, member, endpoint_data)
    with pytest.raises(DuplicateEndpoint, match="already has an endpoint named 'chat'"):
        services.request_endpoint(team, member, endpoint_data)


@pytest.mark.django_db
def test_the_name_of_an_endpoint_still_being_deleted_is_held_until_it_is_deleted(
    team, member, endpoint_data
):
    """Its InferenceService of the same name is still in the cluster (finalizers): a new one
    would be applied onto an object being deleted. Once Deleted, the name is free."""
    from deployments.endpoints.choices import EndpointStatus

    first = services.request_endpoint(team, member, endpoint_data)
    first.status = EndpointStatus.DELETING
    first.save(update_fields=["status"])
    with pytest.raises(DuplicateEndpoint, match="'chat' is still being deleted"):
        services.request_endpoint(team, member, endpoint_data)
    first.status = EndpointStatus.DELETED
    first.save(update_fields=["status"])
    assert services.request_endpoint(team, member, endpoint_data).name == "chat"
