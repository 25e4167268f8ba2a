"""The OpenAPI schema: valid, and the key paths and operations are there (NetBox-style guard)."""

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
    """400/401/403 everywhere, 404 with a path parameter, 409/413 on writes (issue 11)."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            want = {"400", "401", "403"} | ({"404"} if "{" in path else set())
            want |= {"409", "413"} if method != "get" else set()
            lacking = want - set(operation["responses"])
            if lacking:
                missing.append(f"{method.upper()} {path}: {sorted(lacking)}")
    assert not missing, "\n".join(missing)
