import pytest
from django.urls import reverse

from deployments.choices import EndpointStatus
from deployments.models import Endpoint
from tests.factories import CatalogModelFactory, EndpointFactory


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    return EndpointFactory(
        team=team,
        gpu_type=gpu_l4,
        model=llama_8b,
        max_context_length=8192,
        offering=gpu_l4.offerings.get(gpus_per_node=1),
    )


def url(ep):
    return reverse("deployments:endpoint_edit", args=[ep.uuid])


def data(ep, **changes):
    base = {
        "model": ep.model_id,
        "quantization": ep.quantization,
        "kv_cache_dtype": ep.kv_cache_dtype,
        "max_context_length": ep.max_context_length,
        "gpu_type": ep.gpu_type_id,
        "gpu_count": ep.gpu_count,
        "capacity_type": ep.capacity_type,
        "target_queue_depth": ep.target_queue_depth,
    }
    return {**base, **changes}


def test_member_changes_quantization_and_context(member_client, endpoint):
    response = member_client.post(
        url(endpoint), data(endpoint, quantization="fp8", max_context_length=16384)
    )
    endpoint.refresh_from_db()
    assert response.status_code == 302
    assert endpoint.quantization == "fp8" and endpoint.max_context_length == 16384
    assert endpoint.generation == 2 and endpoint.status == EndpointStatus.APPLYING
    assert endpoint.events.filter(message__contains="max_context_length, quantization").exists()


def test_switching_model(member_client, endpoint):
    other = CatalogModelFactory(name="Qwen Test", slug="qwen-test", allowed_quantizations=["bf16"])
    member_client.post(url(endpoint), data(endpoint, model=other.pk))
    assert Endpoint.objects.get(pk=endpoint.pk).model == other


def test_disallowed_quantization_is_a_field_error(member_client, endpoint):
    response = member_client.post(url(endpoint), data(endpoint, quantization="gptq"))
    assert "not gptq" in response.context["edit_form"].errors["quantization"][0]
    assert Endpoint.objects.get(pk=endpoint.pk).generation == 1


def test_context_above_the_models_limit_is_a_field_error(member_client, endpoint):
    response = member_client.post(url(endpoint), data(endpoint, max_context_length=10**6))
    assert "at most" in response.context["edit_form"].errors["max_context_length"][0]


def test_unchanged_spec_does_not_bump_generation(member_client, endpoint):
    member_client.post(url(endpoint), data(endpoint))
    assert Endpoint.objects.get(pk=endpoint.pk).generation == 1


def test_viewer_gets_403(viewer_client, endpoint):
    assert viewer_client.post(url(endpoint), data(endpoint)).status_code == 403


def test_outsider_gets_404(outsider_client, endpoint):
    assert outsider_client.post(url(endpoint), data(endpoint)).status_code == 404


def test_get_is_405(member_client, endpoint):
    assert member_client.get(url(endpoint)).status_code == 405
