import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from deployments.workloads.choices import DesiredState
from tests.factories import EndpointFactory


@pytest.fixture
def endpoint(team):
    return EndpointFactory(team=team, name="chat")


def url(ep):
    return reverse("deployments:endpoint_delete", args=[ep.uuid])


def test_member_deletes_after_typing_the_name(
    member_client, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = member_client.post(url(endpoint), {"confirm_name": "chat"})
    endpoint.refresh_from_db()
    assert response.status_code == 302
    assert endpoint.desired_state == DesiredState.ABSENT
    assert endpoint.status == EndpointStatus.DELETING
    assert len(callbacks) == 1


def test_wrong_confirmation_keeps_the_endpoint(member_client, endpoint):
    response = member_client.post(url(endpoint), {"confirm_name": "chats"})
    assert response.status_code == 200
    assert "Type 'chat'" in response.context["delete_form"].errors["confirm_name"][0]
    assert Endpoint.objects.get(pk=endpoint.pk).desired_state == DesiredState.PRESENT


def test_deleting_a_pending_request_ends_at_once(member_client, endpoint):
    endpoint.status = EndpointStatus.PENDING_APPROVAL
    endpoint.applied_generation = 0
    endpoint.save()
    member_client.post(url(endpoint), {"confirm_name": "chat"})
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.DELETED


def test_viewer_gets_403(viewer_client, endpoint):
    assert viewer_client.post(url(endpoint), {"confirm_name": "chat"}).status_code == 403


def test_outsider_gets_404(outsider_client, endpoint):
    assert outsider_client.post(url(endpoint), {"confirm_name": "chat"}).status_code == 404


def test_get_is_405(member_client, endpoint):
    assert member_client.get(url(endpoint)).status_code == 405
