from decimal import Decimal

import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from tests.factories import CatalogModelFactory, EndpointFactory

pytestmark = pytest.mark.dates


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
        "min_replicas": ep.min_replicas,
        "max_replicas": ep.max_replicas,
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


def test_get_is_the_panel_for_htmx_and_the_page_with_the_panel_open_without(
    member_client, viewer_client, outsider_client, endpoint
):
    panel = member_client.get(url(endpoint), headers={"HX-Request": "true"})
    assert panel.status_code == 200
    body = panel.content.decode()
    assert "<html" not in body
    assert f'action="{url(endpoint)}"' in body and "Roll out change" in body
    page = member_client.get(url(endpoint)).content.decode()  # no htmx: the page, panel open
    assert "<html" in page and '<details id="change-details" open' in page
    assert 'name="max_replicas"' in page.split('id="change-details"')[1]
    assert viewer_client.get(url(endpoint)).status_code == 403
    assert outsider_client.get(url(endpoint)).status_code == 404
    assert member_client.put(url(endpoint)).status_code == 405


# --- the change panel: the request's form, estimate and rules (issue 13) ----------------


def test_the_schedule_can_be_turned_on_after_creation(member_client, endpoint):
    schedule = {
        "schedule_enabled": "on",
        "schedule_timezone": "Europe/Berlin",
        "schedule_start": "08:00",
        "schedule_end": "18:00",
        "schedule_weekdays_only": "on",
    }
    response = member_client.post(url(endpoint), data(endpoint, **schedule))
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.schedule_enabled and endpoint.schedule_timezone == "Europe/Berlin"
    assert endpoint.generation == 2


def test_the_panel_is_the_request_form_with_a_time_zone_select(member_client, endpoint):
    page = member_client.get(
        reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    ).content.decode()
    assert 'data-testid="change-panel"' in page
    # the page only says where the form is: the panel loads it when opened
    assert f'hx-get="{url(endpoint)}"' in page and 'name="schedule_timezone"' not in page
    body = member_client.get(url(endpoint), headers={"HX-Request": "true"}).content.decode()
    assert 'name="schedule_enabled"' in body and 'name="max_replicas"' in body
    assert '<select name="schedule_timezone"' in body and '<option value="Europe/Berlin"' in body
    assert 'id="change_min_replicas"' in body  # not the scale panel's id_min_replicas
    # schedule off: its fields are disabled
    assert 'name="schedule_start" disabled' in body or (
        "disabled" in body.split('name="schedule_start"')[1].split(">")[0]
    )


def test_change_estimate_excludes_the_endpoints_own_gpus_and_says_no_approval(
    member_client, team, endpoint
):
    # the endpoint holds all the team's GPUs: changing it must still fit
    team.max_gpus = endpoint.gpu_count * endpoint.max_replicas
    team.save()
    params = {**data(endpoint, max_context_length=4096), "endpoint": str(endpoint.uuid)}
    body = member_client.get(reverse("deployments:endpoint_estimate"), params).content.decode()
    assert 'data-verdict="auto"' in body and "No approval needed" in body


def test_change_estimate_of_another_teams_endpoint_is_404(outsider_client, endpoint):
    params = {**data(endpoint), "endpoint": str(endpoint.uuid)}
    r = outsider_client.get(reverse("deployments:endpoint_estimate"), params)
    assert r.status_code == 404


def test_a_change_over_the_approval_threshold_is_for_an_approver(
    member_client, owner_client, team, endpoint
):
    endpoint.monthly_cost_max = Decimal("1168.00")  # 2 replicas x $0.80/h x 730 h
    endpoint.save()
    team.approval_cost_threshold = Decimal("1200")  # 3 replicas are above it
    team.save()
    params = {**data(endpoint, max_replicas=3), "endpoint": str(endpoint.uuid)}
    body = member_client.get(reverse("deployments:endpoint_estimate"), params).content.decode()
    assert 'data-verdict="approval"' in body and "approval threshold" in body

    response = member_client.post(url(endpoint), data(endpoint, max_replicas=3))
    assert response.status_code == 200
    page = response.content.decode()
    assert "This change needs approval" in page and 'data-testid="error-summary"' in page
    assert 'data-verdict="approval"' in page  # the panel's estimate after the refusal
    assert Endpoint.objects.get(pk=endpoint.pk).generation == 1

    assert owner_client.post(url(endpoint), data(endpoint, max_replicas=3)).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.max_replicas == 3 and endpoint.generation == 2
    assert endpoint.events.filter(message__contains="Approved as a team admin").exists()


def test_a_change_that_lowers_the_cost_needs_no_approval(member_client, team, endpoint):
    endpoint.max_replicas = 3
    endpoint.save()
    team.approval_cost_threshold = 1  # every spec is above it, but the change makes it cheaper
    team.save()
    response = member_client.post(url(endpoint), data(endpoint, max_replicas=2))
    assert response.status_code == 302
    assert Endpoint.objects.get(pk=endpoint.pk).max_replicas == 2
