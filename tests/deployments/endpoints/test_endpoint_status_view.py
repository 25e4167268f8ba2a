import pytest
from django.urls import reverse

from deployments.endpoints import services
from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointFactory

HX = {"HX-Request": "true"}


@pytest.fixture
def endpoint(team):
    return EndpointFactory(team=team, status=EndpointStatus.PROVISIONING, url="")


def url(ep):
    return reverse("deployments:endpoint_status", args=[ep.uuid])


def test_polling_while_not_final_returns_200_and_keeps_polling(member_client, endpoint):
    response = member_client.get(url(endpoint), headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 5s"' in body
    assert "<html" not in body


def test_final_status_returns_286_so_htmx_stops_polling(member_client, endpoint):
    services.record_observed(
        endpoint.pk, EndpointStatus.READY, "Serving.", url="https://chat.example.com/v1"
    )
    response = member_client.get(url(endpoint), headers=HX)
    body = response.content.decode()
    assert response.status_code == 286
    assert "every 5s" not in body
    assert 'data-status="ready"' in body and "Serving." in body


def test_failed_status_also_stops_polling(member_client, endpoint):
    services.record_observed(endpoint.pk, EndpointStatus.FAILED, "CUDA out of memory")
    response = member_client.get(url(endpoint), headers=HX)
    assert response.status_code == 286
    assert "CUDA out of memory" in response.content.decode()


def test_plain_get_of_a_final_status_is_200(member_client, endpoint):
    services.record_observed(endpoint.pk, EndpointStatus.READY, "")
    assert member_client.get(url(endpoint)).status_code == 200


def test_viewer_can_poll(viewer_client, endpoint):
    assert viewer_client.get(url(endpoint), headers=HX).status_code == 200


def test_outsider_gets_404(outsider_client, endpoint):
    assert outsider_client.get(url(endpoint), headers=HX).status_code == 404


def test_post_is_405(member_client, endpoint):
    assert member_client.post(url(endpoint)).status_code == 405
