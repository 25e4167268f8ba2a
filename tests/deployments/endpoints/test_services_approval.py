"""Approval rules: who decides, what happens on approve/reject."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from deployments.endpoints import admission, services
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.workloads.errors import BudgetExceeded, InvalidTransition
from portal.models import Team
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates


@pytest.fixture
def pending(team, member, endpoint_data):
    team.approval_cost_threshold = Decimal("100")
    team.save()
    return services.request_endpoint(team, member, endpoint_data)


def test_request_for_an_always_approve_gpu_type_waits(team, member, endpoint_data, gpu_l4):
    team.approval_gpu_types.add(gpu_l4)
    ep = services.request_endpoint(team, member, endpoint_data)
    assert ep.status == EndpointStatus.PENDING_APPROVAL
    assert "always need approval" in ep.status_message


# The budget rule projects the endpoint until the month ends: mid-month, not in its last hour.
MID_MONTH = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)


@pytest.mark.time_machine(MID_MONTH)
def test_over_budget_routes_to_approval_by_default(team, member, endpoint_data):
    team.monthly_budget = Decimal("1")
    team.save()
    ep = services.request_endpoint(team, member, endpoint_data)
    assert ep.status == EndpointStatus.PENDING_APPROVAL
    assert "budget" in ep.status_message


@pytest.mark.time_machine(MID_MONTH)
def test_over_budget_is_refused_when_the_policy_says_so(team, member, endpoint_data):
    team.monthly_budget = Decimal("1")
    team.over_budget_policy = Team.OverBudgetPolicy.REFUSE
    team.save()
    with pytest.raises(BudgetExceeded, match="exceed its budget"):
        services.request_endpoint(team, member, endpoint_data)


def test_approve_records_who_and_enqueues(pending, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        ep = services.approve_endpoint(pending, owner)
    assert ep.status == EndpointStatus.APPROVED and ep.approved_by == owner
    assert ep.approved_at is not None
    assert ep.events.filter(kind=EventKind.APPROVAL, message__startswith="Approved by").exists()
    assert len(callbacks) == 1


def test_approve_twice_is_refused(pending, owner):
    services.approve_endpoint(pending, owner)
    with pytest.raises(InvalidTransition):
        services.approve_endpoint(pending, owner)


def test_reject_keeps_the_reason_and_does_not_enqueue(
    pending, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        ep = services.reject_endpoint(pending, owner, "too expensive")
    assert ep.status == EndpointStatus.REJECTED
    assert ep.status_message == f"Rejected by {owner}: too expensive"
    assert callbacks == []


def test_reject_of_a_running_endpoint_is_refused(team, owner):
    with pytest.raises(InvalidTransition):
        services.reject_endpoint(EndpointFactory(team=team), owner, "no")


def test_pending_approvals_for_admins_staff_and_members(pending, owner, member, outsider, staff):
    assert list(admission.pending_approvals_for(owner)) == [pending]
    assert list(admission.pending_approvals_for(staff)) == [pending]
    assert list(admission.pending_approvals_for(member)) == []
    assert list(admission.pending_approvals_for(outsider)) == []
