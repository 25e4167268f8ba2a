"""Four eyes: the requester never approves their own request (team admins and staff included),
on every face: the service, the web page, the API and the admin. The inbox names who else can."""

import pytest

from deployments.endpoints import services
from deployments.endpoints.choices import EndpointStatus
from deployments.workloads import admission as core_admission
from deployments.workloads.errors import SelfApproval
from portal.models import Membership
from tests.factories import EndpointFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_request(team, owner):
    return EndpointFactory(
        team=team, requested_by=owner, status=EndpointStatus.PENDING_APPROVAL, name="mine"
    )


def _refreshed(ep):
    ep.refresh_from_db()
    return ep


def test_service_refuses_self_approval(own_request, owner):
    with pytest.raises(SelfApproval, match="another"):
        services.approve_endpoint(own_request, owner)
    assert _refreshed(own_request).status == EndpointStatus.PENDING_APPROVAL


def test_staff_cannot_approve_their_own_request_either(team, staff):
    ep = EndpointFactory(team=team, requested_by=staff, status=EndpointStatus.PENDING_APPROVAL)
    with pytest.raises(SelfApproval):
        services.approve_endpoint(ep, staff)


def test_another_admin_may_approve(own_request, team):
    other = MembershipFactory(team=team, role=Membership.Role.ADMIN).user
    services.approve_endpoint(own_request, other)
    assert _refreshed(own_request).approved_by == other


def test_requester_may_still_reject_their_own_request(own_request, owner):
    services.reject_endpoint(own_request, owner, reason="not needed")
    assert _refreshed(own_request).status == EndpointStatus.REJECTED


def test_api_answers_403_with_the_reason(own_request, owner, api_client_for):
    resp = api_client_for(owner).post(f"/api/v1/approvals/{own_request.uuid}/approve/")
    assert resp.status_code == 403, resp.content
    assert "another" in resp.json()["detail"]
    assert _refreshed(own_request).status == EndpointStatus.PENDING_APPROVAL


def test_web_refuses_with_a_message(own_request, owner_client):
    resp = owner_client.post(f"/endpoints/{own_request.uuid}/approve/", follow=True)
    assert "another" in resp.content.decode()
    assert _refreshed(own_request).status == EndpointStatus.PENDING_APPROVAL


def test_admin_action_refuses_with_a_message(team, staff_client, staff):
    ep = EndpointFactory(team=team, requested_by=staff, status=EndpointStatus.PENDING_APPROVAL)
    resp = staff_client.post(
        "/admin/deployments/endpoint/",
        {"action": "approve_selected", "_selected_action": [ep.pk]},
        follow=True,
    )
    assert "another" in resp.content.decode()
    assert _refreshed(ep).status == EndpointStatus.PENDING_APPROVAL


def test_inbox_says_who_else_can_approve(own_request, owner_client, team, staff):
    other = MembershipFactory(
        team=team, user=UserFactory(username="dora"), role=Membership.Role.ADMIN
    ).user
    body = owner_client.get("/approvals/").content.decode()
    assert "You asked for this" in body
    assert other.username in body and staff.username in body
    assert set(core_admission.approvers_for(own_request)) == {other, staff}
