"""Hostile or odd input answers a clear 4xx, never a 500 (issue 11, found by schemathesis):
error bodies in every renderer, deep JSON, huge bodies, dates at the edge of the calendar,
integers past the database's range, storage URIs that climb out of their bucket, months."""

import json

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models

from portal.validators import STORAGE_URI
from tests.factories import EndpointFactory

pytestmark = pytest.mark.django_db

API_ROUTES_WITH_BODIES = ["/api/v1/endpoints/", "/api/v1/sizing/"]


@pytest.mark.parametrize("authenticated", [False, True])
def test_manifests_errors_render_as_yaml(client, api_client, authenticated):
    c = api_client if authenticated else client
    resp = c.get(
        "/api/v1/endpoints/00000000-0000-0000-0000-000000000000/manifests/?format=yaml",
    )
    assert resp.status_code in (401, 403, 404), resp.content
    assert resp["Content-Type"].startswith("application/yaml")
    assert b"detail:" in resp.content and b"!!python" not in resp.content


@pytest.mark.parametrize("path", API_ROUTES_WITH_BODIES)
@pytest.mark.parametrize(
    "body", ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000]
)
def test_deeply_nested_json_is_a_400(api_client, path, body):
    resp = api_client.generic("POST", path, body, content_type="application/json")
    assert resp.status_code == 400, resp.content[:300]
    assert "nested" in resp.json()["detail"]


def test_nesting_within_the_limit_still_parses(api_client):
    body = json.dumps({"team": [[[[["x"]]]]]})
    resp = api_client.generic("POST", "/api/v1/endpoints/", body, content_type="application/json")
    assert resp.status_code == 400 and "team" in resp.json()


@pytest.mark.parametrize("path", API_ROUTES_WITH_BODIES)
@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_huge_bodies_answer_json(api_client, path, content_type):
    if content_type == "multipart/form-data":
        content_type = "multipart/form-data; boundary=BoUnDaRy"
        body = b'--BoUnDaRy\r\nContent-Disposition: form-data; name="team"\r\n\r\n'
        body += b"x" * (5 * 1024 * 1024) + b"\r\n--BoUnDaRy--\r\n"
    elif content_type == "application/json":
        body = json.dumps({"team": "x" * (5 * 1024 * 1024)})
    else:
        body = "team=" + "x" * (5 * 1024 * 1024)
    resp = api_client.generic("POST", path, body, content_type=content_type)
    assert resp.status_code == 413, resp.content[:300]
    assert resp["Content-Type"] == "application/json"
    assert "too large" in resp.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        {"end": "0001-01-01T00:00:00Z"},
        {"start": "0001-01-01T00:00:00Z"},
        {"start": "9999-12-31T23:59:59Z"},
        {"end": "9999-12-31T23:59:59Z"},
        {"start": "0001-01-01T00:00:00+14:00", "end": "0001-01-01T01:00:00+14:00"},
        {"end": "2026-13-45T00:00:00Z"},
        {"start": ""},  # given empty is not "left out" (schemathesis)
        {"end": ""},
    ],
)
def test_metrics_window_at_the_edge_of_the_calendar_is_a_400(api_client, member, query):
    from portal.models import Membership
    from tests.factories import MembershipFactory

    ep = EndpointFactory()
    MembershipFactory(team=ep.team, user=member, role=Membership.Role.VIEWER)
    resp = api_client.get(f"/api/v1/endpoints/{ep.uuid}/metrics/", query)
    assert resp.status_code == 400, resp.content
    assert resp.json()["detail"]


@pytest.mark.parametrize("month", ["1-1", "0001-01", "10000-01", "2026-1-1", "2026-00", "-1-5"])
def test_month_outside_the_calendar_we_bill_is_a_400(api_client, team, member, month):
    resp = api_client.get(f"/api/v1/chargeback/teams/{team.slug}/", {"month": month})
    assert resp.status_code == 400, resp.content
    assert "month" in resp.json()


def test_month_parser_takes_yyyy_mm():
    from datetime import UTC, datetime

    from billing.reports import parse_month

    now = datetime(2026, 11, 15, tzinfo=UTC)
    assert parse_month("2026-02", now) == datetime(2026, 2, 1, tzinfo=UTC)
    for bad in ["1-1", "2026-2", "26-02", "2026-02-01", " 2026-02", "1999-12"]:
        with pytest.raises(ValueError):
            parse_month(bad, now)


# Integers only the code writes (counters, collected usage), never typed by a person.
SYSTEM_WRITTEN = {
    "Endpoint.cold_start_seconds",
    "BatchJob.generation",
    "BatchJob.applied_generation",
    "BatchJob.run",
    "BatchJob.tokens_in",
    "BatchJob.tokens_out",
    "BatchJob.gpu_seconds",
    "BatchJob.interruptions",
    "BatchJobEvent.shard",
    "BatchJobEvent.generation",
    "Route.generation",
    "Route.applied_generation",
    "Endpoint.generation",
    "Endpoint.applied_generation",
    "EndpointEvent.generation",
    "EndpointEvent.duration_seconds",
    "Chargeback.version",
    "Statement.version",
    "Statement.gpu_seconds",
    "Statement.unpriced_gpu_seconds",
    "Statement.hours_collected",
    "Statement.hours_in_month",
    "UsageRecord.gpu_seconds",
    "UsageRecord.used_gpu_seconds",
    "UsageRecord.unpriced_gpu_seconds",
    "UsageRecord.prompt_tokens",
    "UsageRecord.generation_tokens",
    "BudgetAlert.threshold",
    "ColdStart.seconds",  # measured from a pod, at most coldstart.MAX_COLD_START_SECONDS
}


def _our_integer_fields():
    for model in apps.get_models():
        if model._meta.app_label not in {"portal", "catalog", "deployments", "billing"}:
            continue
        for field in model._meta.get_fields():
            if not isinstance(field, models.IntegerField) or field.primary_key:
                continue
            if field.editable and f"{model.__name__}.{field.name}" not in SYSTEM_WRITTEN:
                yield model, field


def test_every_editable_integer_field_has_an_upper_bound_the_database_can_hold():
    """SQLite adds no range validators (its integers are 64-bit); PostgreSQL's integer is 32-bit.
    An explicit MaxValueValidator keeps form, serializer and admin to the same bound."""
    missing = []
    for model, field in _our_integer_fields():
        bounds = [v.limit_value for v in field._validators if isinstance(v, MaxValueValidator)] + [
            v.limit_value for v in field.default_validators if isinstance(v, MaxValueValidator)
        ]
        limit = 2**31 - 1 if not isinstance(field, models.BigIntegerField) else 2**63 - 1
        if not bounds or min(bounds) > limit:
            missing.append(f"{model.__name__}.{field.name}")
    assert not missing, missing


def test_target_queue_depth_past_the_bound_is_a_400_in_the_api(api_client, team, member):
    from portal.models import Membership

    member.memberships.filter(team=team).update(role=Membership.Role.MEMBER)
    resp = api_client.post(
        "/api/v1/endpoints/", {"team": team.slug, "target_queue_depth": 2**31}, format="json"
    )
    assert resp.status_code == 400
    assert "target_queue_depth" in resp.json()


def test_target_queue_depth_past_the_bound_is_refused_by_the_model():
    ep = EndpointFactory.build(target_queue_depth=2**31)
    with pytest.raises(ValidationError) as exc:
        ep.clean_fields(exclude=[f.name for f in ep._meta.fields if f.name != "target_queue_depth"])
    assert "target_queue_depth" in exc.value.message_dict


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/../other-bucket/model",
        "s3://bucket/models/../../x",
        "gs://bucket/..",
        "pvc://claim/a/./b",
        "pvc://claim/a//b",
        "hf://../model",
        "hf://org/..",
        "s3://bucket/%2e%2e/x",
    ],
)
def test_storage_uris_with_dot_segments_are_refused(uri):
    with pytest.raises(ValidationError):
        STORAGE_URI(uri)


@pytest.mark.parametrize(
    "uri", ["hf://meta-llama/Llama-3.1-8B", "s3://bucket/models/llama.v3/", "pvc://claim/a/b..c"]
)
def test_ordinary_storage_uris_pass(uri):
    STORAGE_URI(uri)
