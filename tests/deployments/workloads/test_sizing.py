"""Sizing: hand-computed figures (knowledge.md §6), the CLI contract, and the request check.

Hand arithmetic used below (GiB = 2**30 bytes):
  Llama 3.1 8B bf16 weights   8.03e9 x 2  / 2**30 = 14.957 GiB
  Llama 3.1 8B KV per token   2 x 32 x 8 x 128 x 2 = 131072 B = 128 KiB -> 8192 tokens = 1 GiB
  Llama 3.1 70B bf16 weights  70e9 x 2 / 2**30    = 130.385 GiB
  Llama 3.1 70B KV per token  2 x 80 x 8 x 128 x 2 = 327680 B -> 8192 tokens = 2.5 GiB
  usable on an 80 GiB GPU     80 x 0.9 = 72 GiB; on a 24 GiB GPU 21.6 GiB; overhead 2 GiB/GPU
"""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from deployments.endpoints.services import request_endpoint
from deployments.workloads.errors import DeploymentError
from deployments.workloads.sizing import SizingInputError, size, size_for_spec

LLAMA_70B = dict(params_b=70, layers=80, kv_heads=8, head_dim=128)
LLAMA_8B = dict(params_b=8.03, layers=32, kv_heads=8, head_dim=128)


def test_8b_bf16_fits_one_80gib_gpu_with_hand_computed_figures():
    r = size(
        **LLAMA_8B, dtype="bf16", kv_dtype="auto", context=8192, concurrency=16, gpu_memory_gib=80
    )
    assert r.weights_gib == 14.96
    assert r.kv_cache_per_sequence_gib == 1.0
    assert r.kv_cache_gib == 16.0
    assert r.overhead_gib == 2.0
    assert r.required_gib == 32.96
    assert r.tensor_parallel == 1 and r.fits_single_gpu and r.fits
    # (72 - 2 - 14.957) / 1 GiB per sequence = 55.04 -> 55 full-length sequences
    assert r.max_sequences == 55
    assert r.warnings == [] and r.suggestion is None


def test_70b_bf16_on_80gib_needs_tensor_parallel_4():
    r = size(
        **LLAMA_70B, dtype="bf16", kv_dtype="auto", context=8192, concurrency=16, gpu_memory_gib=80
    )
    assert r.weights_gib == 130.39
    assert r.kv_cache_gib == 40.0  # 2.5 GiB x 16
    assert r.required_gib == 172.39
    # TP2: 170.39/2 + 2 = 87.2 > 72; TP4: 170.39/4 + 2 = 44.6 <= 72
    assert r.tensor_parallel == 4
    assert r.per_gpu_gib == 44.6
    assert not r.fits_single_gpu
    assert any("4 GPUs per replica" in w for w in r.warnings)
    # int4 weights 70e9 x 0.5625 / 2**30 = 36.67; fp8 KV 20 GiB; + 2 = 58.67 <= 72
    assert r.suggestion == (
        "Quantised to int4 with an fp8 KV cache it fits one GPU (58.67 of 72.0 GiB usable)."
    )


def test_70b_int4_weights_and_single_sequence_fit_one_gpu():
    r = size(
        **LLAMA_70B, dtype="int4", kv_dtype="auto", context=8192, concurrency=1, gpu_memory_gib=80
    )
    assert r.weights_gib == 36.67  # 4.5 bits per parameter (4-bit + group-128 scales)
    assert r.required_gib == 41.17  # 36.67 + 2.5 + 2
    assert r.tensor_parallel == 1
    # (72 - 2 - 36.67) / 2.5 = 13.3 -> 13 sequences
    assert r.max_sequences == 13


def test_awq_and_gptq_are_sized_as_int4():
    awq = size(
        **LLAMA_70B, dtype="awq", kv_dtype="auto", context=8192, concurrency=1, gpu_memory_gib=80
    )
    gptq = size(
        **LLAMA_70B, dtype="gptq", kv_dtype="auto", context=8192, concurrency=1, gpu_memory_gib=80
    )
    assert awq.weights_gib == gptq.weights_gib == 36.67
    assert awq.precision == "int4"


def test_fp8_kv_cache_halves_the_kv_cache():
    auto = size(
        **LLAMA_70B, dtype="fp8", kv_dtype="auto", context=8192, concurrency=16, gpu_memory_gib=80
    )
    fp8 = size(
        **LLAMA_70B, dtype="fp8", kv_dtype="fp8", context=8192, concurrency=16, gpu_memory_gib=80
    )
    assert auto.kv_cache_gib == 40.0
    assert fp8.kv_cache_gib == 20.0
    assert fp8.weights_gib == auto.weights_gib == 65.19  # 70e9 x 1 byte


def test_nothing_fits_reports_none_and_a_warning():
    r = size(
        params_b=405,
        layers=126,
        kv_heads=8,
        head_dim=128,
        dtype="bf16",
        kv_dtype="auto",
        context=131072,
        concurrency=16,
        gpu_memory_gib=24,
    )
    assert r.tensor_parallel is None
    assert not r.fits_single_gpu and not r.fits
    assert any("does not fit even on 8 GPUs" in w for w in r.warnings)


def test_explicit_gpu_count_reports_queueing_when_concurrency_does_not_fit():
    # 8B bf16 on one 24 GiB GPU: (21.6 - 2 - 14.96) / 1 GiB = 4 sequences of 8192 tokens
    r = size(
        **LLAMA_8B,
        dtype="bf16",
        kv_dtype="auto",
        context=8192,
        concurrency=8,
        gpu_memory_gib=24,
        gpu_count=1,
    )
    assert r.max_sequences == 4
    assert r.can_serve and not r.fits
    assert any("only 4 of 8" in w for w in r.warnings)


@pytest.mark.parametrize(
    "override, field",
    [
        ({"params_b": 0}, "params_b"),
        ({"params_b": float("nan")}, "params_b"),
        ({"layers": -1}, "layers"),
        ({"layers": 2.5}, "layers"),
        ({"context": 0}, "context"),
        ({"dtype": "int3"}, "dtype"),
        ({"kv_dtype": "fp4"}, "kv_dtype"),
        ({"gpu_memory_gib": 0}, "gpu_memory_gib"),
        ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
        ({"gpu_count": 3}, "gpu_count"),
    ],
)
def test_bad_input_names_the_field(override, field):
    args = dict(
        **LLAMA_8B, dtype="bf16", kv_dtype="auto", context=8192, concurrency=1, gpu_memory_gib=24
    )
    args.update(override)
    with pytest.raises(SizingInputError) as exc:
        size(**args)
    assert exc.value.field == field


# --- the management command contract ---------------------------------------------------------

CONTRACT_ARGS = [
    "--params-b",
    "70",
    "--layers",
    "80",
    "--kv-heads",
    "8",
    "--head-dim",
    "128",
    "--dtype",
    "bf16",
    "--kv-dtype",
    "auto",
    "--context",
    "8192",
    "--concurrency",
    "16",
    "--gpu-memory-gib",
    "80",
    "--json",
]


def test_sizing_command_prints_one_json_object():
    out = StringIO()
    call_command("sizing", *CONTRACT_ARGS, stdout=out)
    data = json.loads(out.getvalue())
    assert data["weights_gib"] == 130.39
    assert data["kv_cache_gib"] == 40.0
    assert data["overhead_gib"] == 2.0
    assert data["required_gib"] == 172.39
    assert data["tensor_parallel"] == 4
    assert data["fits_single_gpu"] is False


def test_sizing_command_reports_null_tensor_parallel_when_nothing_fits():
    out = StringIO()
    args = [a if a != "70" else "1000" for a in CONTRACT_ARGS]
    call_command("sizing", *args, stdout=out)
    assert json.loads(out.getvalue())["tensor_parallel"] is None


def test_sizing_command_rejects_bad_values_with_the_argument_name():
    args = [a if a != "8192" else "-5" for a in CONTRACT_ARGS]
    with pytest.raises(CommandError, match="--context"):
        call_command("sizing", *args)


def test_sizing_command_rejects_unknown_dtype():
    args = [a if a != "bf16" else "int3" for a in CONTRACT_ARGS]
    with pytest.raises(CommandError, match="dtype"):
        call_command("sizing", *args)


# --- specs and the request path ----------------------------------------------------------------


def test_size_for_spec_uses_catalog_facts(endpoint_data):
    r = size_for_spec(endpoint_data, concurrency=1)
    assert r.weights_gib == 14.96  # the 8B factory model
    assert r.usable_gib_per_gpu == 21.6  # 24 GiB L4 fixture x 0.9
    assert r.gpu_count == 1 and r.can_serve


def test_request_is_refused_when_the_model_cannot_start_on_its_gpus(
    team, member, endpoint_data, llama_8b
):
    llama_8b.parameters_b = 70
    llama_8b.num_layers = 80
    llama_8b.save()
    with pytest.raises(DeploymentError) as exc:
        request_endpoint(team, member, endpoint_data)
    assert exc.value.field == "gpu_count"
    assert "130.39 GiB of weights" in exc.value.message
    # the usable figure the estimate shows ("... of 21.6 usable"), not another one
    assert "has 21.6 GiB usable" in exc.value.message and "after overhead" not in exc.value.message
    assert not team.endpoints.exists()


def test_request_is_refused_for_a_gpu_count_vllm_cannot_split(team, member, endpoint_data):
    endpoint_data["gpu_count"] = 3
    with pytest.raises(DeploymentError) as exc:
        request_endpoint(team, member, endpoint_data)
    assert exc.value.field == "gpu_count"
    assert not team.endpoints.exists()
