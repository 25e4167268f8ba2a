"""Choices of the catalog: capacity types of GPU nodes and weight precisions."""

from django.db import models


class CapacityType(models.TextChoices):
    ON_DEMAND = "on-demand", "On-demand"
    SPOT = "spot", "Spot"
    RESERVED = "reserved", "Reserved"


class Quantization(models.TextChoices):
    """Weight precision the endpoint is served in (vLLM --dtype / --quantization)."""

    BF16 = "bf16", "BF16 (none)"
    FP16 = "fp16", "FP16 (none)"
    FP8 = "fp8", "FP8"
    INT8 = "int8", "INT8 (W8A8)"
    AWQ = "awq", "INT4 AWQ"
    GPTQ = "gptq", "INT4 GPTQ"
