import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from portal.models import AuditLog
from tests.factories import EndpointFactory


@pytest.fixture
def endpoint(team):
    return EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL, applied_generation=0)


def url(ep):
    return reverse("deployments:endpoint_approve", args=[ep.uuid])


def test_owner_approves_and_the_apply_task_is_enqueued(
    owner, owner_client, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(url(endpoint))
    endpoint.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == reverse(
        "deployments:approval_list"
    )
    assert endpoint.status == EndpointStatus.APPROVED and endpoint.approved_by == owner
    assert len(callbacks) == 1
    assert AuditLog.objects.filter(action="endpoint.approve", source="web").exists()


def test_approving_from_the_detail_page_returns_there(owner_client, endpoint):
    response = owner_client.post(url(endpoint), {"next": "detail"})
    assert response["Location"] == reverse("deployments:endpoint_detail", args=[endpoint.uuid])


def test_approving_twice_explains_it_is_no_longer_pending(owner_client, endpoint):
    owner_client.post(url(endpoint))
    response = owner_client.post(url(endpoint), follow=True)
    assert "Only pending requests can be approved" in response.content.decode()


def test_member_cannot_approve(member_client, endpoint):
    assert member_client.post(url(endpoint)).status_code == 403
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.PENDING_APPROVAL


def test_viewer_cannot_approve(viewer_client, endpoint):
    assert viewer_client.post(url(endpoint)).status_code == 403


def test_outsider_gets_404(outsider_client, endpoint):
    assert outsider_client.post(url(endpoint)).status_code == 404


def test_staff_can_approve_any_team(staff_client, endpoint):
    staff_client.post(url(endpoint))
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.APPROVED


def test_get_is_405(owner_client, endpoint):
    assert owner_client.get(url(endpoint)).status_code == 405
