from decimal import Decimal

from tests.factories import (
    CatalogModelFactory,
    GpuRateFactory,
    GpuTypeFactory,
    InstanceOfferingFactory,
)


def test_models_lists_enabled_catalog_models(api_client, llama_8b):
    CatalogModelFactory(name="Hidden", slug="hidden", enabled=False)
    body = api_client.get("/api/v1/models/").json()
    assert [m["slug"] for m in body["results"]] == ["llama-3-1-8b"]
    assert body["results"][0]["num_kv_heads"] == 8


def test_model_detail_by_uuid(api_client, llama_8b):
    body = api_client.get(f"/api/v1/models/{llama_8b.uuid}/").json()
    assert body["name"] == "Llama 3.1 8B Instruct"


def test_models_are_read_only(api_client, llama_8b):
    assert api_client.post("/api/v1/models/", {"name": "x"}, format="json").status_code == 405
    assert api_client.delete(f"/api/v1/models/{llama_8b.uuid}/").status_code == 405


def test_gpu_types_include_offerings_and_current_prices(api_client, gpu_l4):
    body = api_client.get("/api/v1/gpu-types/").json()
    l4 = next(g for g in body["results"] if g["name"] == "L4-test")
    small = next(o for o in l4["offerings"] if o["instance_type"] == "t-g6.xlarge")
    prices = {p["capacity_type"]: p for p in small["prices"]}
    assert prices["on-demand"]["hourly_price"] == "0.8000"
    assert prices["spot"]["per_gpu_hour"] == "0.3000"
    big = next(o for o in l4["offerings"] if o["instance_type"] == "t-g6.12xlarge")
    assert big["prices"][0]["per_gpu_hour"] == "1.1500"  # 4.60 / 4 GPUs


def test_gpu_type_list_query_count_is_constant(api_client, gpu_l4, django_assert_max_num_queries):
    with django_assert_max_num_queries(8) as few:
        api_client.get("/api/v1/gpu-types/")
    for _i in range(5):
        gpu = GpuTypeFactory()
        GpuRateFactory(offering=InstanceOfferingFactory(gpu_type=gpu), hourly_price=Decimal("1"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api_client.get("/api/v1/gpu-types/").json()["results"]) == 6


def test_gpu_types_are_read_only(api_client, gpu_l4):
    assert api_client.post("/api/v1/gpu-types/", {}, format="json").status_code == 405


def test_anonymous_gets_401():
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/models/").status_code == 401
