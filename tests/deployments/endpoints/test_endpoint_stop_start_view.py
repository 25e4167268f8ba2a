import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from deployments.workloads.choices import DesiredState
from tests.factories import EndpointFactory


@pytest.fixture
def endpoint(team):
    return EndpointFactory(team=team)


def stop(ep):
    return reverse("deployments:endpoint_stop", args=[ep.uuid])


def start(ep):
    return reverse("deployments:endpoint_start", args=[ep.uuid])


def test_member_stops_then_starts(member_client, endpoint):
    assert member_client.post(stop(endpoint)).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.desired_state == DesiredState.STOPPED and endpoint.generation == 2
    assert member_client.post(start(endpoint)).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.desired_state == DesiredState.PRESENT and endpoint.generation == 3


def test_starting_a_running_endpoint_shows_why_not(member_client, endpoint):
    response = member_client.post(start(endpoint), follow=True)
    assert "Only a stopped endpoint can be started." in response.content.decode()
    assert Endpoint.objects.get(pk=endpoint.pk).generation == 1


def test_stopping_a_pending_request_is_refused(member_client, endpoint):
    endpoint.status = EndpointStatus.PENDING_APPROVAL
    endpoint.save()
    response = member_client.post(stop(endpoint), follow=True)
    assert "delete it instead" in response.content.decode()


def test_htmx_stop_answers_hx_redirect(member_client, endpoint):
    response = member_client.post(stop(endpoint), headers={"HX-Request": "true"})
    assert response.status_code == 204 and "HX-Redirect" in response


def test_viewer_gets_403(viewer_client, endpoint):
    assert viewer_client.post(stop(endpoint)).status_code == 403
    assert viewer_client.post(start(endpoint)).status_code == 403


def test_outsider_gets_404(outsider_client, endpoint):
    assert outsider_client.post(stop(endpoint)).status_code == 404
    assert outsider_client.post(start(endpoint)).status_code == 404


def test_get_is_405(member_client, endpoint):
    assert member_client.get(stop(endpoint)).status_code == 405
    assert member_client.get(start(endpoint)).status_code == 405
