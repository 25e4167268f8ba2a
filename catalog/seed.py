"""Seed GPU types, instance offerings with prices, and a few catalog models. Idempotent.

Prices: rough AWS us-east-1 on-demand list prices (shared/reference knowledge §6.5), stored
as rows effective from SEED_PRICES_FROM. Spot and reserved are NOT quotes: spot is a
plausible 40% and reserved (1 year, no upfront) 62% of on-demand. Admins correct prices by
adding newer GpuRate rows, which this command never overwrites.
"""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

from catalog.models import CatalogModel, GpuRate, GpuType, InstanceOffering
from catalog.pricing import to_unit_price

SEED_PRICES_FROM = datetime(2025, 7, 1, tzinfo=UTC)
SPOT_FRACTION = Decimal("0.40")
RESERVED_FRACTION = Decimal("0.62")

# name, memory GiB, Karpenter `karpenter.k8s.aws/instance-gpu-name` value
GPU_TYPES = [
    ("L4", "24", "l4"),
    ("A10G", "24", "a10g"),
    ("L40S", "48", "l40s"),
    ("A100-40GB", "40", "a100"),
    ("A100-80GB", "80", "a100"),
    ("H100", "80", "h100"),
    ("H200", "141", "h200"),
]

# instance type, GPU type, GPUs per node, on-demand USD per node-hour
OFFERINGS = [
    ("g6.xlarge", "L4", 1, "0.8048"),
    ("g6.12xlarge", "L4", 4, "4.6016"),
    ("g6.48xlarge", "L4", 8, "13.3504"),
    ("g5.xlarge", "A10G", 1, "1.0060"),
    ("g5.12xlarge", "A10G", 4, "5.6720"),
    ("g5.48xlarge", "A10G", 8, "16.2880"),
    ("g6e.xlarge", "L40S", 1, "1.8610"),
    ("g6e.12xlarge", "L40S", 4, "10.4926"),
    ("g6e.48xlarge", "L40S", 8, "30.1310"),
    ("p4d.24xlarge", "A100-40GB", 8, "21.9576"),  # after the June 2025 cut (estimate)
    ("p4de.24xlarge", "A100-80GB", 8, "27.4470"),  # estimate
    ("p5.48xlarge", "H100", 8, "55.0400"),  # after the June 2025 cut (estimate)
    ("p5e.48xlarge", "H200", 8, "107.0000"),  # estimate
]

# vCPUs and memory (GiB) of one node, AWS's published shapes: what Karpenter fits pods against
SHAPES = {
    "g6.xlarge": (4, 16),
    "g6.12xlarge": (48, 192),
    "g6.48xlarge": (192, 768),
    "g5.xlarge": (4, 16),
    "g5.12xlarge": (48, 192),
    "g5.48xlarge": (192, 768),
    "g6e.xlarge": (4, 32),
    "g6e.12xlarge": (48, 384),
    "g6e.48xlarge": (192, 1536),
    "p4d.24xlarge": (96, 1152),
    "p4de.24xlarge": (96, 1152),
    "p5.48xlarge": (192, 2048),
    "p5e.48xlarge": (192, 2048),
}

# name, slug, storage URI, params (B), layers, KV heads, head dim, native context, quants, licence
MODELS = [
    (
        "Llama 3.1 8B Instruct",
        "llama-3-1-8b-instruct",
        "hf://meta-llama/Llama-3.1-8B-Instruct",
        "8.03",
        32,
        8,
        128,
        131072,
        ["bf16", "fp8", "awq"],
        "llama3.1",
    ),
    (
        "Llama 3.1 70B Instruct",
        "llama-3-1-70b-instruct",
        "hf://meta-llama/Llama-3.1-70B-Instruct",
        "70.6",
        80,
        8,
        128,
        131072,
        ["bf16", "fp8", "awq"],
        "llama3.1",
    ),
    (
        "Qwen2.5 7B Instruct",
        "qwen2-5-7b-instruct",
        "hf://Qwen/Qwen2.5-7B-Instruct",
        "7.62",
        28,
        4,
        128,
        32768,
        ["bf16", "fp8", "awq", "gptq"],
        "apache-2.0",
    ),
    (
        "Qwen2.5 72B Instruct",
        "qwen2-5-72b-instruct",
        "hf://Qwen/Qwen2.5-72B-Instruct",
        "72.7",
        80,
        8,
        128,
        32768,
        ["bf16", "fp8", "awq", "gptq"],
        "qwen",
    ),
    (
        "Mistral 7B Instruct v0.3",
        "mistral-7b-instruct-v0-3",
        "hf://mistralai/Mistral-7B-Instruct-v0.3",
        "7.25",
        32,
        8,
        128,
        32768,
        ["bf16", "fp8", "awq"],
        "apache-2.0",
    ),
    (
        "Mixtral 8x7B Instruct v0.1",
        "mixtral-8x7b-instruct-v0-1",
        "hf://mistralai/Mixtral-8x7B-Instruct-v0.1",
        "46.7",
        32,
        8,
        128,
        32768,
        ["bf16", "fp8", "awq"],
        "apache-2.0",
    ),
]

# slug -> (attention heads, gated, weights per pre-quantised precision)
MODEL_SERVING = {
    "llama-3-1-8b-instruct": (
        32,
        True,
        {"awq": "hf://hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"},
    ),
    "llama-3-1-70b-instruct": (
        64,
        True,
        {"awq": "hf://hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"},
    ),
    "qwen2-5-7b-instruct": (
        28,
        False,
        {
            "awq": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ",
            "gptq": "hf://Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4",
        },
    ),
    "qwen2-5-72b-instruct": (
        64,
        False,
        {
            "awq": "hf://Qwen/Qwen2.5-72B-Instruct-AWQ",
            "gptq": "hf://Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4",
        },
    ),
    "mistral-7b-instruct-v0-3": (
        32,
        True,
        {"awq": "hf://solidrust/Mistral-7B-Instruct-v0.3-AWQ"},
    ),
    "mixtral-8x7b-instruct-v0-1": (
        32,
        True,
        {"awq": "hf://TheBloke/Mixtral-8x7B-Instruct-v0.1-AWQ"},
    ),
}


def seed_catalog() -> dict[str, int]:
    """Create the seed rows that are missing (admin edits are kept); return counts of new rows."""
    created = {"gpu_types": 0, "offerings": 0, "rates": 0, "models": 0}
    with transaction.atomic():
        gpus = {}
        for name, memory, label in GPU_TYPES:
            gpus[name], new = GpuType.objects.get_or_create(
                name=name, defaults={"memory_gib": Decimal(memory), "node_label_value": label}
            )
            created["gpu_types"] += new
        for instance_type, gpu, count, price in OFFERINGS:
            offering, new = InstanceOffering.objects.get_or_create(
                instance_type=instance_type,
                defaults={
                    "gpu_type": gpus[gpu],
                    "gpus_per_node": count,
                    "node_labels": {"node.kubernetes.io/instance-type": instance_type},
                },
            )
            created["offerings"] += new
            if offering.vcpus is None and offering.memory_gib is None:  # an admin's value stays
                offering.vcpus, offering.memory_gib = SHAPES[instance_type]
                offering.save(update_fields=["vcpus", "memory_gib"])
            on_demand = Decimal(price)
            for capacity, amount in (
                ("on-demand", on_demand),
                ("spot", on_demand * SPOT_FRACTION),
                ("reserved", on_demand * RESERVED_FRACTION),
            ):
                _, new = GpuRate.objects.get_or_create(
                    offering=offering,
                    capacity_type=capacity,
                    effective_from=SEED_PRICES_FROM,
                    defaults={"hourly_price": to_unit_price(amount)},
                )
                created["rates"] += new
        for name, slug, uri, params, layers, kv, head, ctx, quants, licence in MODELS:
            heads, gated, quantized = MODEL_SERVING[slug]
            _, new = CatalogModel.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "storage_uri": uri,
                    "parameters_b": Decimal(params),
                    "num_layers": layers,
                    "num_kv_heads": kv,
                    "num_attention_heads": heads,
                    "gated": gated,
                    "quantized_storage_uris": quantized,
                    "head_dim": head,
                    "native_context_length": ctx,
                    "allowed_quantizations": quants,
                    "license": licence,
                },
            )
            created["models"] += new
    return created
