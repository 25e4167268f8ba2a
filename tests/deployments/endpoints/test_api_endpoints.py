from decimal import Decimal

import pytest

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.filters import EndpointFilterSet
from deployments.models import Endpoint
from deployments.workloads.choices import DesiredState
from portal.models import AuditLog
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates

LIST = "/api/v1/endpoints/"


def detail(ep):
    return f"{LIST}{ep.uuid}/"


@pytest.fixture
def payload(team, llama_8b, gpu_l4):
    return {
        "team": team.slug,
        "name": "chat",
        "model": llama_8b.slug,
        "gpu_type": gpu_l4.name,
        "gpu_count": 1,
        "quantization": "bf16",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 2,
    }


# --- create ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("in_november")
def test_create_answers_202_with_the_endpoint(
    api_client, team, payload, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(LIST, payload, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["name"] == "chat" and body["team"] == "search"
    assert body["status"] == "approved" and body["generation"] == 1
    assert body["monthly_cost_max"] == "1152.00"
    assert body["model"] == "llama-3-1-8b" and body["gpu_type"] == "L4-test"
    assert body["requested_by"] == member.username
    assert Endpoint.objects.filter(uuid=body["uuid"]).exists()
    assert len(callbacks) == 1
    assert AuditLog.objects.get(action="endpoint.request").source == "api"


@pytest.mark.usefixtures("in_november")
def test_create_query_count_is_bounded(
    api_client, team, payload, member, django_assert_max_num_queries, settings
):
    """Auth, the team with the caller's role, model, GPU type, the team locked with its rules,
    usage with the duplicate-name check, the batch jobs' GPUs, prices, 3 inserts and the
    savepoint pair: 13; plus the model's cache and its measured starts on the GPU (the planned
    cold start, coldstart_plans.measured_from_zero): 15. The
    answer is built from the saved instance, not read again. (Catalog cache off: cold.)"""
    settings.CATALOG_CACHE_SECONDS = 0
    api_client.post(LIST, {**payload, "name": "other"}, format="json")  # usage is non-empty
    with django_assert_max_num_queries(15):
        response = api_client.post(LIST, payload, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["instance_type"] and body["requested_by"] == member.username
    assert body["status"] == "approved" and body["monthly_cost_max"] == "1152.00"
    endpoint = Endpoint.objects.get(uuid=body["uuid"])
    assert body["created_at"] == api_client.get(detail(endpoint)).json()["created_at"]
    assert [e.kind for e in endpoint.events.order_by("id")] == ["request", "approval"]
    assert AuditLog.objects.filter(action="endpoint.request").count() == 2


@pytest.mark.usefixtures("in_november")
def test_second_request_reads_no_catalog_rows(api_client, payload, django_assert_max_num_queries):
    assert api_client.post(LIST, {**payload, "name": "first"}, format="json").status_code == 202
    with django_assert_max_num_queries(12):  # 15 minus model, GPU type and prices
        response = api_client.post(LIST, {**payload, "name": "second"}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["monthly_cost_max"] == "1152.00"


def test_a_disabled_model_is_refused_at_once(api_client, payload, llama_8b, settings):
    settings.CATALOG_CACHE_SECONDS = 3600
    assert api_client.post(LIST, {**payload, "name": "a"}, format="json").status_code == 202
    llama_8b.enabled = False
    llama_8b.save()  # signals clear this process's cache
    response = api_client.post(LIST, {**payload, "name": "b"}, format="json")
    assert response.status_code == 400
    assert "No enabled catalog model" in response.json()["model"][0]


def test_create_accepts_uuids_for_model_and_gpu_type(api_client, payload, llama_8b, gpu_l4):
    payload.update(model=str(llama_8b.uuid), gpu_type=str(gpu_l4.uuid))
    assert api_client.post(LIST, payload, format="json").status_code == 202


def test_duplicate_name_answers_400_with_a_clear_message(api_client, payload):
    assert api_client.post(LIST, payload, format="json").status_code == 202
    response = api_client.post(LIST, payload, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["The team already has an endpoint named 'chat'."]}
    assert Endpoint.objects.count() == 1


def test_over_quota_answers_400_and_creates_nothing(api_client, team, payload):
    team.max_gpus = 1
    team.save()
    response = api_client.post(LIST, payload, format="json")
    assert response.status_code == 400
    assert "Needs 2 GPUs" in response.json()["max_replicas"][0]
    assert not Endpoint.objects.exists()


def test_over_threshold_waits_for_approval(api_client, team, payload):
    team.approval_cost_threshold = Decimal("10")
    team.save()
    response = api_client.post(LIST, payload, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "pending_approval"
    assert "approval threshold" in response.json()["status_message"]


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("team", "no-such-team", "does not exist"),
        ("team", None, "may not be null"),
        ("name", "Chat!", "RFC 1123"),
        ("name", "a" * 41, "no more than 40"),
        ("name", "", "may not be blank"),
        ("model", "gpt-5", "No enabled catalog model 'gpt-5'"),
        ("model", 42, "Expected a UUID or a slug"),
        ("gpu_type", "TPU", "No enabled GPU type 'TPU'"),
        ("gpu_count", 0, "greater than or equal to 1"),
        ("gpu_count", 16, "less than or equal to 8"),
        ("gpu_count", "many", "valid integer"),
        ("quantization", "int3", "not a valid choice"),
        ("quantization", "gptq", "allows bf16, fp8, not gptq"),
        ("kv_cache_dtype", "int4", "not a valid choice"),
        ("max_context_length", 10, "greater than or equal to 256"),
        ("max_context_length", 10**7, "at most 131072 tokens"),
        ("min_replicas", 5, "cannot be above maximum"),
        ("min_replicas", -1, "greater than or equal to 0"),
        ("max_replicas", 0, "greater than or equal to 1"),
        ("max_replicas", 1000, "less than or equal to 100"),
        ("target_queue_depth", 0, "greater than or equal to 1"),
        ("capacity_type", "free", "not a valid choice"),
        ("schedule_start", "25:99", "Time has wrong format"),
        ("schedule_enabled", "maybe", "Must be a valid boolean"),
        ("schedule_timezone", "Mars/Olympus", "Unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_input_on_each_field_answers_400_naming_the_field(
    api_client, payload, field, value, message
):
    response = api_client.post(LIST, {**payload, field: value}, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body, body
    assert message in " ".join(body[field])
    assert not Endpoint.objects.exists()


def test_schedule_needs_a_time_zone(api_client, payload):
    response = api_client.post(
        LIST,
        {**payload, "schedule_enabled": True, "schedule_start": "08:00", "schedule_end": "18:00"},
        format="json",
    )
    assert response.status_code == 400
    assert "time zone" in response.json()["schedule_timezone"][0]


def test_missing_required_fields_are_all_reported(api_client):
    response = api_client.post(LIST, {}, format="json")
    assert response.status_code == 400
    assert {"team", "name", "model", "gpu_type", "quantization", "max_context_length"} <= set(
        response.json()
    )


def test_viewer_cannot_create(api_client_for, viewer, payload):
    response = api_client_for(viewer).post(LIST, payload, format="json")
    assert response.status_code == 403
    assert not Endpoint.objects.exists()


def test_outsider_cannot_create_in_a_team_they_are_not_in(api_client_for, outsider, payload):
    response = api_client_for(outsider).post(LIST, payload, format="json")
    assert response.status_code == 400
    assert "does not exist" in response.json()["team"][0]


def test_anonymous_gets_401(client, payload):
    from rest_framework.test import APIClient

    assert APIClient().post(LIST, payload, format="json").status_code == 401


# --- read -----------------------------------------------------------------------------------


def test_list_is_team_scoped_and_filterable(api_client, team, other_team, gpu_l4):
    EndpointFactory(team=team, name="mine", gpu_type=gpu_l4)
    EndpointFactory(team=team, name="pending", status=EndpointStatus.PENDING_APPROVAL)
    EndpointFactory(team=team, name="gone", status=EndpointStatus.DELETED)
    EndpointFactory(team=other_team, name="theirs")
    names = {e["name"] for e in api_client.get(LIST).json()["results"]}
    assert names == {"mine", "pending"}
    filtered = api_client.get(LIST, {"status": "pending_approval"}).json()["results"]
    assert [e["name"] for e in filtered] == ["pending"]
    by_gpu = api_client.get(LIST, {"gpu_type": "L4-test"}).json()["results"]
    assert [e["name"] for e in by_gpu] == ["mine"]
    assert {
        e["name"] for e in api_client.get(LIST, {"include_deleted": "true"}).json()["results"]
    } == {"mine", "pending", "gone"}


def test_bad_filter_answers_400(api_client):
    response = api_client.get(LIST, {"status": "sleeping"})
    assert response.status_code == 400
    assert "status" in response.json()


def test_a_list_without_filter_parameters_builds_no_filter_form(api_client, team, monkeypatch):
    """portal.api.query.DjangoFilterBackend: nothing to validate, so no form; the FilterSet's
    default (deleted endpoints hidden) still applies, and a filter parameter still binds it."""
    EndpointFactory(team=team, name="mine")
    EndpointFactory(team=team, name="gone", status=EndpointStatus.DELETED)
    assert api_client.get(LIST, {"status": ""}).status_code == 400

    def refuse(self):
        raise AssertionError("a filter form was built")

    monkeypatch.setattr(EndpointFilterSet, "get_form_class", refuse)
    names = {e["name"] for e in api_client.get(LIST, {"page": "1"}).json()["results"]}
    assert names == {"mine"}
    with pytest.raises(AssertionError, match="a filter form was built"):
        api_client.get(LIST, {"include_deleted": "true"})


def test_list_query_count_is_constant(api_client, team, django_assert_max_num_queries):
    EndpointFactory(team=team)
    with django_assert_max_num_queries(10) as few:
        api_client.get(LIST)
    for _ in range(15):
        EndpointFactory(team=team)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api_client.get(LIST).json()["results"]) == 16


def test_without_the_lean_list_drf_lists_the_same_with_the_rows_loaded(
    api_client, team, monkeypatch, django_assert_max_num_queries
):
    """The list skips select_related/prefetch only when portal.api.lean answers it: the
    serializer's fallback still loads the related rows (no query per endpoint)."""
    from portal.api.lean import LeanList

    for i in range(16):
        EndpointFactory(team=team, name=f"ep-{i:02d}")
    lean = api_client.get(LIST).content
    monkeypatch.setattr(LeanList, "for_serializer", classmethod(lambda cls, *a, **k: None))
    with django_assert_max_num_queries(10):
        assert api_client.get(LIST).content == lean


def test_retrieve(api_client, team):
    ep = EndpointFactory(team=team, name="chat")
    body = api_client.get(detail(ep)).json()
    assert body["uuid"] == str(ep.uuid) and body["status"] == "ready"


def test_outsider_gets_404_on_every_verb(api_client_for, outsider, team):
    ep = EndpointFactory(team=team)
    client = api_client_for(outsider)
    assert client.get(detail(ep)).status_code == 404
    assert client.patch(detail(ep), {"max_replicas": 3}, format="json").status_code == 404
    assert client.delete(detail(ep)).status_code == 404


# --- update and delete ----------------------------------------------------------------------


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    return EndpointFactory(
        team=team,
        name="chat",
        gpu_type=gpu_l4,
        model=llama_8b,
        offering=gpu_l4.offerings.get(gpus_per_node=1),
    )


def test_patch_changes_the_spec_and_answers_202(api_client, endpoint):
    response = api_client.patch(
        detail(endpoint), {"quantization": "fp8", "max_replicas": 3}, format="json"
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["quantization"] == "fp8" and body["max_replicas"] == 3
    assert body["generation"] == 2 and body["status"] == "applying"
    assert AuditLog.objects.get(action="endpoint.update").source == "api"


def test_patch_cannot_rename(api_client, endpoint):
    response = api_client.patch(detail(endpoint), {"name": "other"}, format="json")
    assert response.status_code == 400
    assert "cannot be changed" in response.json()["name"][0]


def test_patch_with_bad_value_answers_400_and_changes_nothing(api_client, endpoint):
    response = api_client.patch(detail(endpoint), {"min_replicas": 9}, format="json")
    assert response.status_code == 400
    assert "min_replicas" in response.json()
    assert Endpoint.objects.get(pk=endpoint.pk).generation == 1


def test_put_is_405(api_client, endpoint):
    assert api_client.put(detail(endpoint), {}, format="json").status_code == 405


def test_viewer_cannot_patch_or_delete(api_client_for, viewer, endpoint):
    client = api_client_for(viewer)
    assert client.get(detail(endpoint)).status_code == 200
    assert client.patch(detail(endpoint), {"max_replicas": 3}, format="json").status_code == 403
    assert client.delete(detail(endpoint)).status_code == 403


def test_delete_answers_202_and_marks_absent(
    api_client, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.delete(detail(endpoint))
    assert response.status_code == 202
    assert response.json()["status"] == "deleting"
    assert Endpoint.objects.get(pk=endpoint.pk).desired_state == DesiredState.ABSENT
    assert len(callbacks) == 1


def test_delete_twice_is_harmless(api_client, endpoint):
    api_client.delete(detail(endpoint))
    response = api_client.delete(detail(endpoint))
    assert response.status_code == 202
    assert Endpoint.objects.get(pk=endpoint.pk).generation == 2


def test_a_deleted_endpoint_stays_readable_by_uuid(api_client, endpoint):
    from deployments.endpoints import services

    services.record_observed(endpoint.pk, EndpointStatus.DELETED, "Gone")
    assert api_client.get(detail(endpoint)).json()["status"] == "deleted"
    assert api_client.get(f"{detail(endpoint)}events/").status_code == 200
    assert api_client.get(LIST).json()["results"] == []


def test_patch_of_a_deleted_endpoint_answers_409(api_client, endpoint):
    api_client.delete(detail(endpoint))
    response = api_client.patch(detail(endpoint), {"max_replicas": 3}, format="json")
    assert response.status_code == 409
    assert "cannot be changed" in response.json()["detail"]
