"""The OpenAPI schema: valid, and the key paths and operations are there (NetBox-style guard)."""

import re

import jsonschema
import pytest
import yaml
from django.core.management import call_command

KEY_OPERATIONS = {
    "/api/v1/endpoints/": {"get", "post"},
    "/api/v1/endpoints/{uuid}/": {"get", "patch", "delete"},
    "/api/v1/endpoints/{uuid}/scale/": {"post"},
    "/api/v1/endpoints/{uuid}/stop/": {"post"},
    "/api/v1/endpoints/{uuid}/start/": {"post"},
    "/api/v1/endpoints/{uuid}/events/": {"get"},
    "/api/v1/approvals/": {"get"},
    "/api/v1/approvals/{uuid}/approve/": {"post"},
    "/api/v1/approvals/{uuid}/reject/": {"post"},
    "/api/v1/models/": {"get"},
    "/api/v1/gpu-types/": {"get"},
    "/api/v1/teams/": {"get"},
    "/api/v1/teams/{uuid}/members/": {"get"},
    "/api/v1/chargeback/teams/{slug}/savings/": {"get"},
    "/api/v1/chargeback/teams/{slug}/savings/dismiss/": {"post"},
    "/api/v1/endpoints/{uuid}/savings/": {"get"},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    path = tmp_path_factory.mktemp("schema") / "schema.yml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_is_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "ModelPort API"


@pytest.mark.parametrize("path,methods", KEY_OPERATIONS.items())
def test_key_paths_and_methods_exist(schema, path, methods):
    assert path in schema["paths"], sorted(schema["paths"])
    assert methods <= set(schema["paths"][path])


def test_put_is_not_offered_for_endpoints(schema):
    assert "put" not in schema["paths"]["/api/v1/endpoints/{uuid}/"]


@pytest.mark.parametrize(
    "path,method",
    [
        ("/api/v1/endpoints/", "post"),
        ("/api/v1/endpoints/{uuid}/", "patch"),
        ("/api/v1/endpoints/{uuid}/", "delete"),
        ("/api/v1/endpoints/{uuid}/scale/", "post"),
        ("/api/v1/endpoints/{uuid}/stop/", "post"),
        ("/api/v1/approvals/{uuid}/approve/", "post"),
    ],
)
def test_asynchronous_operations_document_202(schema, path, method):
    assert "202" in schema["paths"][path][method]["responses"]


def test_endpoint_request_documents_model_and_gpu_lookup(schema):
    props = schema["components"]["schemas"]["EndpointRequest"]["properties"]
    assert "UUID or slug" in props["model"]["description"]
    assert "UUID or name" in props["gpu_type"]["description"]
    assert "status" not in props  # read-only


def test_schema_and_docs_are_served_without_a_cdn(client):
    assert client.get("/api/schema/").status_code == 200
    body = client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr" not in body and "unpkg.com" not in body
    assert "/static/drf_spectacular_sidecar/" in body


def test_every_operation_documents_its_error_answers():
    """400/401/403 and 503 (database unavailable) everywhere, 404 with a path parameter,
    409/413 on writes (issue 11, issue 24)."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            want = {"400", "401", "403", "503"} | ({"404"} if "{" in path else set())
            want |= {"409", "413"} if method != "get" else set()
            lacking = want - set(operation["responses"])
            if lacking:
                missing.append(f"{method.upper()} {path}: {sorted(lacking)}")
    assert not missing, "\n".join(missing)


# --- the schema describes the API (issue 11: what schemathesis found it did not) -------------


def _props(schema, component):
    return schema["components"]["schemas"][component]["properties"]


@pytest.mark.parametrize(
    "component,field",
    [
        ("Endpoint", "url"),
        ("Endpoint", "approved_by"),
        ("EndpointEvent", "actor"),
        ("Team", "alert_webhook_host"),
    ],
)
def test_fields_that_may_be_unknown_are_nullable(schema, component, field):
    assert _props(schema, component)[field].get("nullable") is True


@pytest.mark.parametrize("component", ["Endpoint", "EndpointRequest", "PatchedEndpointRequest"])
def test_schedule_fields_state_their_formats(schema, component):
    props = _props(schema, component)
    for field in ("schedule_start", "schedule_end"):
        pattern = props[field]["pattern"]
        assert props[field]["nullable"] is True and "format" not in props[field]
        assert re.match(pattern, "09:00") and re.match(pattern, "23:59")
        assert not any(re.match(pattern, t) for t in ("9:00", "09:00:00", "24:00", "12:60"))
    named, blank = props["schedule_timezone"]["oneOf"]
    assert blank == {"type": "string", "maxLength": 0}
    zone = named["pattern"]
    for name in ("Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+5"):
        assert re.match(zone, name), name
    assert not any(
        re.match(zone, name) for name in ("Europe Berlin", "../etc", "/UTC", "a/b/c/d", "")
    )
    assert props["schedule_weekdays_only"]["type"] == "boolean"


def test_statement_month_is_a_year_month_string_in_answers_and_filters(schema):
    month = _props(schema, "Statement")["month"]
    assert month["type"] == "string" and "format" not in month
    assert re.match(month["pattern"], "2026-11") and not re.match(month["pattern"], "2026-11-01")
    for path in ("/api/v1/chargeback/statements/", "/api/v1/chargeback/teams/{slug}/"):
        (param,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "month"]
        assert param["schema"]["pattern"] == month["pattern"], path
        assert "format" not in param["schema"]


def test_sizing_states_its_required_fields(schema):
    body = schema["paths"]["/api/v1/sizing/"]["post"]["requestBody"]["content"]
    request = schema["components"]["schemas"][body["application/json"]["schema"]["$ref"][21:]]
    assert request["anyOf"] == [
        {"required": ["model"]},
        {"required": ["params_b", "layers", "kv_heads", "head_dim", "context"]},
    ]
    validator = jsonschema.Draft4Validator({**request, "properties": {}})
    assert validator.is_valid({"model": "llama-3-1-8b-instruct"})
    assert validator.is_valid(
        {"params_b": 8, "layers": 32, "kv_heads": 8, "head_dim": 128, "context": 8192}
    )
    assert not validator.is_valid({"params_b": 8, "layers": 32})


@pytest.mark.parametrize(
    "body",
    [
        {"month": ["Enter a valid date."]},
        {"detail": "JSON parse error - Expecting value: line 1 column 1 (char 0)"},
        {"tiers": [{"endpoint": ["Must be a valid UUID."]}]},
        {"tiers": {"0": {"role": ["Not a valid choice."]}}},
    ],
)
def test_validation_error_schema_accepts_the_bodies_the_api_answers(schema, body):
    """It said oneOf with an empty schema among the choices: every list matched two (issue 11)."""
    error = schema["components"]["schemas"]["ValidationError"]
    jsonschema.validate(body, error)


def test_paginated_lists_document_404_for_a_page_past_the_end(schema):
    lacking = [
        path
        for path, operations in schema["paths"].items()
        if any(p["name"] == "page" for p in operations.get("get", {}).get("parameters", []))
        and "404" not in operations["get"]["responses"]
    ]
    assert lacking == []
    assert "404" in schema["paths"]["/api/v1/endpoints/"]["get"]["responses"]


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            if isinstance(op, dict):
                yield method, path, op


def test_request_bodies_are_documented_as_json(schema):
    others = [
        f"{method} {path}: {sorted(op['requestBody']['content'])}"
        for method, path, op in _operations(schema)
        if "requestBody" in op and set(op["requestBody"]["content"]) != {"application/json"}
    ]
    assert others == []


def test_every_documented_error_has_a_json_body(schema):
    bare = [
        f"{method} {path} {status}"
        for method, path, op in _operations(schema)
        for status, response in op["responses"].items()
        if status.startswith("4")
        and status != "414"  # gunicorn's own HTML page, documented as such
        and "application/json" not in response.get("content", {})
        and "application/yaml" not in response.get("content", {})
    ]
    assert bare == []
    assert "404" in schema["paths"]["/api/v1/routes/"]["post"]["responses"]
    uri_too_long = schema["paths"]["/api/v1/batch-jobs/"]["get"]["responses"]["414"]
    assert set(uri_too_long["content"]) == {"text/html"}


@pytest.mark.parametrize(
    "collection,status,targets",
    [
        (
            "/api/v1/endpoints/",
            "202",
            {"get_object", "patch_object", "delete_object", "post_scale"},
        ),
        ("/api/v1/endpoints/", "202", {"post_approvals_approve", "get_approvals_object"}),
        ("/api/v1/batch-jobs/", "202", {"get_object", "delete_object", "post_cancel"}),
        ("/api/v1/routes/", "202", {"get_object", "delete_object", "get_manifests"}),
    ],
)
def test_creating_posts_link_to_the_operations_on_the_new_object(
    schema, collection, status, targets
):
    links = schema["paths"][collection]["post"]["responses"][status]["links"]
    assert targets <= set(links)
    operation_ids = {
        op["operationId"]
        for operations in schema["paths"].values()
        for op in operations.values()
        if isinstance(op, dict) and "operationId" in op
    }
    for link in links.values():
        assert link["operationId"] in operation_ids
        assert link["parameters"] == {"uuid": "$response.body#/uuid"}


def test_errors_are_documented_in_every_media_type_the_operation_answers(schema):
    """Found by scripts/fuzz.sh: `GET …/manifests/?format=yaml` for an unknown uuid answers its
    404 in YAML (the negotiated renderer), which the schema documented as JSON only."""
    manifests = schema["paths"]["/api/v1/endpoints/{uuid}/manifests/"]["get"]["responses"]
    assert "application/yaml" in manifests["200"]["content"]
    for method, path, op in _operations(schema):
        answers = {
            m for s, r in op["responses"].items() if s[0] == "2" for m in r.get("content", {})
        }
        for status, response in op["responses"].items():
            if status[0] == "4" and "application/json" in response.get("content", {}):
                assert answers <= set(response["content"]), (method, path, status)
