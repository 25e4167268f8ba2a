"""Requests and day-2 changes refuse a precision without weights in that format, and a
tensor-parallel size that does not divide the model's attention heads."""

import pytest
from django.core.exceptions import ValidationError

from deployments.endpoints.services import request_endpoint, update_endpoint
from deployments.workloads.errors import DeploymentError
from tests.factories import CatalogModelFactory


def test_awq_without_awq_weights_is_refused(team, member, endpoint_data):
    model = endpoint_data["model"]
    model.allowed_quantizations = ["bf16", "awq"]
    model.save()
    with pytest.raises(DeploymentError, match="no awq weights in the catalog") as exc:
        request_endpoint(team, member, {**endpoint_data, "quantization": "awq"})
    assert exc.value.field == "quantization"


def test_awq_with_awq_weights_is_accepted(team, member, endpoint_data):
    model = endpoint_data["model"]
    model.allowed_quantizations = ["bf16", "awq"]
    model.quantized_storage_uris = {"awq": "hf://org/model-AWQ"}
    model.save()
    ep = request_endpoint(team, member, {**endpoint_data, "quantization": "awq"})
    assert ep.model.storage_uri_for(ep.quantization) == "hf://org/model-AWQ"


def test_tensor_parallel_must_divide_the_heads(team, member, endpoint_data, staff):
    qwen = CatalogModelFactory(num_attention_heads=28, parameters_b="7.62", num_kv_heads=4)
    with pytest.raises(DeploymentError, match="28 attention heads") as exc:
        request_endpoint(team, member, {**endpoint_data, "model": qwen, "gpu_count": 8})
    assert exc.value.field == "gpu_count"


def test_the_catalog_refuses_an_allowed_precision_without_weights():
    model = CatalogModelFactory.build(allowed_quantizations=["bf16", "gptq"])
    with pytest.raises(ValidationError) as exc:
        model.clean()
    assert "gptq is allowed but has no weights in that format" in str(exc.value)
    model.quantized_storage_uris = {"gptq": "file:///etc/passwd"}
    with pytest.raises(ValidationError, match="not an allowed storage URI"):
        model.clean()
    model.quantized_storage_uris = {"gptq": "hf://org/m-GPTQ", "fp8": "hf://org/m-FP8"}
    with pytest.raises(ValidationError, match="'fp8' is not a pre-quantised precision"):
        model.clean()
    model.quantized_storage_uris = {"gptq": "hf://org/m-GPTQ"}
    model.clean()


def test_only_fp8_reads_the_16_bit_weights():
    model = CatalogModelFactory.build(
        storage_uri="hf://org/m", quantized_storage_uris={"awq": "hf://org/m-AWQ"}
    )
    assert model.storage_uri_for("fp8") == model.storage_uri_for("bf16") == "hf://org/m"
    assert model.storage_uri_for("awq") == "hf://org/m-AWQ"
    assert model.storage_uri_for("int8") is None


def test_update_checks_the_heads_too(team, member, endpoint_data, staff):
    qwen = CatalogModelFactory(num_attention_heads=28, parameters_b="7.62", num_kv_heads=4)
    ep = request_endpoint(team, member, {**endpoint_data, "model": qwen, "gpu_count": 4})
    with pytest.raises(DeploymentError, match="28 attention heads"):
        update_endpoint(ep, staff, {"gpu_count": 8})
