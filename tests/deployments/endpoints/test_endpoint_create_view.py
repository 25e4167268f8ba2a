from decimal import Decimal

import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from portal.models import AuditLog
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates

URL = reverse("deployments:endpoint_create")


@pytest.fixture
def form_data(llama_8b, gpu_l4):
    return {
        "name": "chat",
        "model": llama_8b.pk,
        "gpu_type": gpu_l4.pk,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 2,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
        "schedule_timezone": "",
        "schedule_start": "",
        "schedule_end": "",
        "schedule_weekdays_only": "on",
    }


def test_form_page_renders_for_member(member_client):
    response = member_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="name"' in body and 'hx-get="/endpoints/new/estimate/"' in body


@pytest.mark.usefixtures("in_november")
def test_member_request_within_rules_is_approved_and_redirects_to_detail(
    member_client, member, team, form_data, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = member_client.post(URL, form_data)
    endpoint = Endpoint.objects.get(team=team, name="chat")
    assert response.status_code == 302
    assert response["Location"] == reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    assert endpoint.status == EndpointStatus.APPROVED
    assert endpoint.requested_by == member
    assert endpoint.monthly_cost_max == Decimal("1152.00")
    assert len(callbacks) == 1  # apply_endpoint enqueued on commit
    assert AuditLog.objects.get(action="endpoint.request").source == "web"


def test_htmx_post_success_answers_with_hx_redirect(member_client, team, form_data):
    response = member_client.post(URL, form_data, headers={"HX-Request": "true"})
    endpoint = Endpoint.objects.get(team=team, name="chat")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("deployments:endpoint_detail", args=[endpoint.uuid])


def test_request_over_cost_threshold_waits_for_approval(member_client, team, form_data):
    team.approval_cost_threshold = Decimal("100")
    team.save()
    member_client.post(URL, form_data)
    endpoint = Endpoint.objects.get(team=team, name="chat")
    assert endpoint.status == EndpointStatus.PENDING_APPROVAL


def test_viewer_cannot_request(viewer_client, team, form_data):
    assert viewer_client.post(URL, form_data).status_code == 403
    assert not Endpoint.objects.filter(team=team).exists()


def test_viewer_sees_a_read_only_explanation(viewer_client):
    body = viewer_client.get(URL).content.decode()
    assert "you can see endpoints but not request them" in body


def test_duplicate_name_is_an_error_next_to_the_name_and_keeps_the_input(
    member_client, team, form_data
):
    EndpointFactory(team=team, name="chat")
    response = member_client.post(URL, {**form_data, "max_context_length": 4096})
    assert response.status_code == 200
    form = response.context["form"]
    assert "already has an endpoint named" in form.errors["name"][0]
    body = response.content.decode()
    assert 'value="4096"' in body  # nothing lost
    assert Endpoint.objects.filter(team=team).count() == 1


def test_quota_refusal_is_shown_next_to_max_replicas(member_client, team, form_data):
    team.max_gpus = 1
    team.save()
    response = member_client.post(URL, form_data)
    assert response.status_code == 200
    assert "Needs 2 GPUs" in response.context["form"].errors["max_replicas"][0]
    assert not Endpoint.objects.filter(team=team).exists()


SCHEDULE_ON = {
    "schedule_enabled": "on",
    "schedule_timezone": "Europe/Berlin",
    "schedule_start": "08:00",
    "schedule_end": "18:00",
}


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("name", "Bad_Name", "RFC 1123"),
        ("name", "", "required"),
        ("name", "x" * 41, "at most 40"),
        ("model", "999999", "Select a valid choice"),
        ("gpu_type", "999999", "Select a valid choice"),
        ("gpu_count", "0", "greater than or equal to 1"),
        ("gpu_count", "9", "less than or equal to 8"),
        ("gpu_count", "two", "whole number"),
        ("quantization", "int3", "Select a valid choice"),
        ("quantization", "awq", "allows bf16, fp8, not awq"),
        ("kv_cache_dtype", "int2", "Select a valid choice"),
        ("max_context_length", "100", "greater than or equal to 256"),
        ("max_context_length", "200000", "at most 131072 tokens"),
        ("min_replicas", "3", "cannot be above maximum"),
        ("min_replicas", "-1", "greater than or equal to 0"),
        ("max_replicas", "0", "greater than or equal to 1"),
        ("max_replicas", "101", "less than or equal to 100"),
        ("target_queue_depth", "0", "greater than or equal to 1"),
        ("capacity_type", "free", "Select a valid choice"),
        ("schedule_start", "25:00", "valid time"),
        ("schedule_timezone", "Mars/Olympus", "Unknown time zone"),
    ],
)
def test_bad_input_on_each_field_gives_a_form_error_on_that_field(
    member_client, team, form_data, field, value, message
):
    if field.startswith("schedule_"):  # schedule fields count (and are enabled) only when on
        form_data = {**form_data, **SCHEDULE_ON}
    response = member_client.post(URL, {**form_data, field: value})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Endpoint.objects.filter(team=team).exists()


def test_schedule_without_time_zone_is_refused(member_client, team, form_data):
    response = member_client.post(
        URL,
        {**form_data, "schedule_enabled": "on", "schedule_start": "08:00", "schedule_end": "18:00"},
    )
    assert "time zone" in response.context["form"].errors["schedule_timezone"][0]


def test_htmx_post_with_errors_rerenders_the_form_partial_with_200(member_client, form_data):
    response = member_client.post(URL, {**form_data, "name": "Bad"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="endpoint-request"' in body


def test_wrong_method_is_405(member_client):
    assert member_client.put(URL).status_code == 405


@pytest.mark.usefixtures("in_november")
@pytest.mark.parametrize("htmx", [False, True])
def test_a_model_too_big_for_the_gpus_with_a_schedule_is_a_form_error_not_a_crash(
    member_client, team, form_data, gpu_l4, htmx
):
    """The most natural first request: a 70B model on 2 GPUs that cannot hold it, off-hours
    schedule on. The sizing problem is shown next to the GPU count; no estimate, no traceback."""
    from tests.factories import CatalogModelFactory

    big = CatalogModelFactory(name="Llama 3.1 70B Instruct", slug="llama-3-1-70b", parameters_b=70)
    data = {**form_data, **SCHEDULE_ON, "model": big.pk, "gpu_count": 2}
    headers = {"HX-Request": "true"} if htmx else {}
    response = member_client.post(URL, data, headers=headers)
    assert response.status_code == 200, response.content[:300]
    errors = response.context["form"].errors
    assert "gpu_count" in errors, errors
    assert "needs 67.69 GiB per GPU" in str(errors["gpu_count"])
    assert not Endpoint.objects.filter(team=team).exists()
    estimate = member_client.get(reverse("deployments:endpoint_estimate"), data)
    assert estimate.status_code == 200
