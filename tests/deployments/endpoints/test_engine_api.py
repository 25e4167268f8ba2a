"""POST /api/v1/sizing/, GET /api/v1/endpoints/{uuid}/manifests/ and manage.py render_manifests."""

from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from deployments.endpoints import manifests
from tests.factories import (
    EndpointFactory,
)

SIZING_URL = "/api/v1/sizing/"


def manifests_url(ep):
    return f"/api/v1/endpoints/{ep.uuid}/manifests/"


@pytest.fixture
def catalog(gpu_l4, gpu_h100):
    """L4 (24 GiB, 1 and 4 GPU nodes) and H100 (80 GiB, 8 GPU node) with prices."""
    return {"l4": gpu_l4, "h100": gpu_h100}


# --- sizing ------------------------------------------------------------------------------------


def test_sizing_with_raw_architecture_matches_the_cli_figures(api_client, catalog):
    r = api_client.post(
        SIZING_URL,
        {
            "params_b": 70,
            "layers": 80,
            "kv_heads": 8,
            "head_dim": 128,
            "dtype": "bf16",
            "kv_dtype": "auto",
            "context": 8192,
            "concurrency": 16,
            "gpu_memory_gib": 80,
        },
        format="json",
    )
    assert r.status_code == 200, r.content
    sizing = r.json()["sizing"]
    assert sizing["weights_gib"] == 130.39 and sizing["required_gib"] == 172.39
    assert sizing["tensor_parallel"] == 4 and sizing["fits_single_gpu"] is False
    assert "int4" in sizing["suggestion"]


@pytest.mark.usefixtures("in_november")
def test_sizing_ranks_offerings_cheapest_first(api_client, catalog, llama_8b):
    r = api_client.post(
        SIZING_URL,
        {"model": llama_8b.slug, "dtype": "bf16", "context": 8192, "concurrency": 1},
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    # 8B bf16 + one 8K sequence = 17.96 GiB: fits one L4 (21.6 usable) and one H100.
    offerings = [
        (o["instance_type"], o["capacity_type"], o["tensor_parallel"], o["monthly_cost"])
        for o in body["offerings"]
    ]
    assert offerings == [
        ("t-g6.xlarge", "spot", 1, "216.00"),  # 0.30 x 720 (November)
        ("t-g6.xlarge", "on-demand", 1, "576.00"),  # 0.80 x 720
        ("t-g6.12xlarge", "on-demand", 1, "828.00"),  # 4.60 / 4 x 720
        ("t-p5.48xlarge", "on-demand", 1, "4953.60"),  # 55.04 / 8 x 720
    ]
    assert body["cheapest"]["instance_type"] == "t-g6.xlarge"
    assert body["sizing"]["usable_gib_per_gpu"] == 21.6  # sized on the cheapest GPU


@pytest.mark.usefixtures("in_november")
def test_sizing_skips_offerings_whose_nodes_are_too_small(api_client, catalog):
    # 70B bf16 needs 4 L4s at 4K context and 1 sequence? (130.39+0.625)/4+2 = 34.8 > 21.6 -> 8
    r = api_client.post(
        SIZING_URL,
        {
            "params_b": 70,
            "layers": 80,
            "kv_heads": 8,
            "head_dim": 128,
            "context": 4096,
            "capacity_type": "on-demand",
        },
        format="json",
    )
    body = r.json()
    assert [(o["instance_type"], o["tensor_parallel"]) for o in body["offerings"]] == [
        ("t-p5.48xlarge", 2)
    ]  # the 4-GPU L4 node cannot hold TP 8
    assert body["offerings"][0]["monthly_cost"] == "9907.20"


def test_sizing_without_model_requires_the_architecture(api_client):
    r = api_client.post(SIZING_URL, {"params_b": 7, "context": 4096}, format="json")
    assert r.status_code == 400
    assert set(r.json()) == {"layers", "kv_heads", "head_dim"}


@pytest.mark.parametrize(
    "field, value",
    [
        ("dtype", "int3"),
        ("kv_dtype", "fp4"),
        ("context", 0),
        ("concurrency", -1),
        ("params_b", "lots"),
        ("model", "no-such-model"),
    ],
)
def test_sizing_bad_input_is_a_clear_400(api_client, field, value, llama_8b):
    data = {"model": llama_8b.slug, "context": 4096, field: value}
    r = api_client.post(SIZING_URL, data, format="json")
    assert r.status_code == 400
    assert field in r.json()


def test_sizing_needs_authentication(client):
    assert client.post(SIZING_URL, {}, content_type="application/json").status_code in (401, 403)


def test_sizing_wrong_method_is_405(api_client):
    assert api_client.get(SIZING_URL).status_code == 405


# --- manifests ----------------------------------------------------------------------------------


@pytest.fixture
def endpoint(team):
    return EndpointFactory(team=team, name="chat")


def test_member_gets_the_exact_yaml(api_client, endpoint):
    r = api_client.get(manifests_url(endpoint))
    assert r.status_code == 200
    body = r.json()
    assert body["yaml"] == manifests.manifest_yaml(endpoint)
    assert body["objects"] == manifests.render(endpoint)
    assert [o["kind"] for o in yaml.safe_load_all(body["yaml"])] == [
        "Namespace",
        "ResourceQuota",
        "InferenceService",
        "ScaledObject",
        "PodDisruptionBudget",  # max_replicas 3
    ]


def test_yaml_format_returns_raw_yaml(api_client, endpoint):
    r = api_client.get(manifests_url(endpoint), HTTP_ACCEPT="application/yaml")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/yaml")
    assert r.content.decode() == manifests.manifest_yaml(endpoint)


def test_viewer_may_read_manifests(viewer_client, endpoint):
    assert viewer_client.get(manifests_url(endpoint)).status_code == 200


def test_outsider_gets_404(outsider, api_client_for, endpoint):
    assert api_client_for(outsider).get(manifests_url(endpoint)).status_code == 404


def test_manifests_wrong_method_is_405(api_client, endpoint):
    assert api_client.post(manifests_url(endpoint)).status_code == 405


def test_render_manifests_command_prints_the_same_yaml(endpoint):
    out = StringIO()
    call_command("render_manifests", str(endpoint.uuid), stdout=out)
    assert out.getvalue() == manifests.manifest_yaml(endpoint)


def test_render_manifests_command_rejects_unknown_ids(db):
    with pytest.raises(CommandError, match="not an endpoint UUID"):
        call_command("render_manifests", "chat")
    with pytest.raises(CommandError, match="No endpoint"):
        call_command("render_manifests", "00000000-0000-0000-0000-000000000000")
