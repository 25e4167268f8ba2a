import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from tests.factories import EndpointFactory


@pytest.fixture
def endpoint(team):
    return EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL, applied_generation=0)


def url(ep):
    return reverse("deployments:endpoint_reject", args=[ep.uuid])


def test_owner_rejects_with_a_reason_the_requester_can_read(
    owner_client, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        owner_client.post(url(endpoint), {"reason": "Use an L4 instead"})
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.REJECTED
    assert "Use an L4 instead" in endpoint.status_message
    assert callbacks == []


def test_reject_without_reason_is_refused(owner_client, endpoint):
    response = owner_client.post(url(endpoint), {"reason": ""}, follow=True)
    assert "Give a reason" in response.content.decode()
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.PENDING_APPROVAL


def test_member_cannot_reject(member_client, endpoint):
    assert member_client.post(url(endpoint), {"reason": "no"}).status_code == 403


def test_outsider_gets_404(outsider_client, endpoint):
    assert outsider_client.post(url(endpoint), {"reason": "no"}).status_code == 404


def test_get_is_405(owner_client, endpoint):
    assert owner_client.get(url(endpoint)).status_code == 405
