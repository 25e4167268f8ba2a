import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from tests.factories import EndpointFactory


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    return EndpointFactory(
        team=team,
        gpu_type=gpu_l4,
        model=llama_8b,
        min_replicas=1,
        max_replicas=1,
        offering=gpu_l4.offerings.get(gpus_per_node=1),
    )


def url(ep):
    return reverse("deployments:endpoint_scale", args=[ep.uuid])


def test_member_scales_and_a_new_generation_is_enqueued(
    member_client, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = member_client.post(url(endpoint), {"min_replicas": 0, "max_replicas": 3})
    endpoint.refresh_from_db()
    assert response.status_code == 302
    assert (endpoint.min_replicas, endpoint.max_replicas) == (0, 3)
    assert endpoint.generation == 2 and endpoint.status == EndpointStatus.APPLYING
    assert len(callbacks) == 1


def test_htmx_scale_answers_hx_redirect(member_client, endpoint):
    response = member_client.post(
        url(endpoint), {"min_replicas": 1, "max_replicas": 2}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204
    assert response["HX-Redirect"].endswith(f"/endpoints/{endpoint.uuid}/")


def test_min_above_max_is_a_form_error_and_changes_nothing(member_client, endpoint):
    response = member_client.post(url(endpoint), {"min_replicas": 4, "max_replicas": 2})
    assert response.status_code == 200
    assert "cannot be above maximum" in response.context["scale_form"].errors["min_replicas"][0]
    assert Endpoint.objects.get(pk=endpoint.pk).generation == 1


def test_scale_over_quota_is_refused_with_the_reason(member_client, team, endpoint):
    team.max_gpus = 2
    team.save()
    response = member_client.post(url(endpoint), {"min_replicas": 1, "max_replicas": 5})
    assert "GPUs" in response.context["scale_form"].errors["max_replicas"][0]
    assert Endpoint.objects.get(pk=endpoint.pk).max_replicas == 1


def test_non_numbers_are_form_errors(member_client, endpoint):
    response = member_client.post(url(endpoint), {"min_replicas": "x", "max_replicas": ""})
    errors = response.context["scale_form"].errors
    assert "min_replicas" in errors and "max_replicas" in errors


def test_viewer_gets_403(viewer_client, endpoint):
    assert (
        viewer_client.post(url(endpoint), {"min_replicas": 0, "max_replicas": 1}).status_code == 403
    )


def test_outsider_gets_404(outsider_client, endpoint):
    assert (
        outsider_client.post(url(endpoint), {"min_replicas": 0, "max_replicas": 1}).status_code
        == 404
    )


def test_get_is_405(member_client, endpoint):
    assert member_client.get(url(endpoint)).status_code == 405
