import pytest

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from portal.models import AuditLog
from tests.factories import EndpointFactory

LIST = "/api/v1/approvals/"


@pytest.fixture
def pending(team):
    return EndpointFactory(
        team=team, name="big", status=EndpointStatus.PENDING_APPROVAL, applied_generation=0
    )


def test_team_admin_lists_pending_requests(api_client_for, owner, pending, other_team):
    EndpointFactory(team=other_team, status=EndpointStatus.PENDING_APPROVAL)
    EndpointFactory(team=pending.team, status=EndpointStatus.READY)
    body = api_client_for(owner).get(LIST).json()
    assert [e["name"] for e in body["results"]] == ["big"]


def test_member_has_nothing_to_approve(api_client, pending):
    assert api_client.get(LIST).json()["results"] == []


def test_admin_approves_with_202_and_the_apply_task_is_enqueued(
    api_client_for, owner, pending, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client_for(owner).post(f"{LIST}{pending.uuid}/approve/")
    assert response.status_code == 202
    assert response.json()["status"] == "approved"
    assert response.json()["approved_by"] == owner.username
    assert len(callbacks) == 1
    assert AuditLog.objects.get(action="endpoint.approve").source == "api"


def test_approving_twice_answers_409(api_client_for, owner, pending):
    client = api_client_for(owner)
    client.post(f"{LIST}{pending.uuid}/approve/")
    response = client.post(f"{LIST}{pending.uuid}/approve/")
    assert response.status_code == 409
    assert "Only pending requests" in response.json()["detail"]


def test_admin_rejects_with_a_reason(api_client_for, owner, pending):
    response = api_client_for(owner).post(
        f"{LIST}{pending.uuid}/reject/", {"reason": "Too big"}, format="json"
    )
    assert response.status_code == 202
    assert response.json()["status"] == "rejected"
    assert "Too big" in response.json()["status_message"]


def test_reject_needs_a_reason(api_client_for, owner, pending):
    response = api_client_for(owner).post(f"{LIST}{pending.uuid}/reject/", {}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    assert Endpoint.objects.get(pk=pending.pk).status == EndpointStatus.PENDING_APPROVAL


def test_member_cannot_approve(api_client, pending):
    assert api_client.post(f"{LIST}{pending.uuid}/approve/").status_code == 403


def test_viewer_cannot_reject(api_client_for, viewer, pending):
    response = api_client_for(viewer).post(
        f"{LIST}{pending.uuid}/reject/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 403


def test_outsider_gets_404(api_client_for, outsider, pending):
    client = api_client_for(outsider)
    assert client.post(f"{LIST}{pending.uuid}/approve/").status_code == 404
    assert client.get(f"{LIST}{pending.uuid}/").status_code == 404


def test_staff_approve_any_team(api_client_for, staff, pending):
    assert api_client_for(staff).post(f"{LIST}{pending.uuid}/approve/").status_code == 202


def test_list_query_count_is_constant(api_client_for, owner, team, django_assert_max_num_queries):
    client = api_client_for(owner)
    EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL)
    with django_assert_max_num_queries(10) as few:
        client.get(LIST)
    for _ in range(10):
        EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(LIST)


def test_wrong_methods_are_405(api_client_for, owner, pending):
    client = api_client_for(owner)
    assert client.get(f"{LIST}{pending.uuid}/approve/").status_code == 405
    assert client.post(LIST, {}).status_code == 405
    assert client.delete(f"{LIST}{pending.uuid}/").status_code == 405
