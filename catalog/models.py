"""The catalog: models teams may deploy, GPU types, the instance offerings that carry them,
and their prices over time. Deployments and billing both read it; it reads only the core."""

import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from portal.validators import DNS_LABEL, MAX_CONTEXT_LENGTH, STORAGE_URI, label_problems

from .choices import CapacityType, Quantization

# Precisions served from checkpoints made in that format (not quantised at load time).
PREQUANTIZED = ("awq", "gptq", "int8")


class CatalogModel(models.Model):
    """A model teams may deploy, with the architecture facts sizing needs."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True, help_text="Display name")
    slug = models.SlugField(max_length=40, unique=True, validators=[DNS_LABEL])
    storage_uri = models.CharField(
        max_length=300,
        validators=[STORAGE_URI],
        help_text="Weights in 16-bit (served as bf16/fp16, or quantised to fp8 at load time).",
    )
    quantized_storage_uris = models.JSONField(
        "pre-quantised weights",
        default=dict,
        blank=True,
        help_text=(
            "Storage URI per pre-quantised precision, e.g. "
            '{"awq": "hf://org/model-AWQ", "gptq": "...", "int8": "..."}: '
            f"required for each allowed one of {', '.join(PREQUANTIZED)}."
        ),
    )
    gated = models.BooleanField(
        default=False,
        help_text="The weights need a Hugging Face token (the team's Secret) to download.",
    )
    parameters_b = models.DecimalField(
        "parameters (billions)",
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(0.01)],
    )
    num_layers = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    num_kv_heads = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1024)]
    )
    num_attention_heads = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1024)],
        help_text="Query heads; the tensor-parallel size (GPUs per replica) must divide it.",
    )
    head_dim = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(4096)]
    )
    native_context_length = models.PositiveIntegerField(
        validators=[MinValueValidator(256), MaxValueValidator(MAX_CONTEXT_LENGTH)]
    )
    allowed_quantizations = models.JSONField(
        default=list, help_text=f"Any of: {', '.join(Quantization.values)}"
    )
    license = models.CharField(max_length=100, blank=True)
    batch_tokens_per_gpu_second = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Offline batch throughput (prompt + generated tokens per GPU-second) used to "
        "estimate batch jobs until the portal has measured one.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "catalog model"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        bad = [q for q in self.allowed_quantizations or [] if q not in Quantization.values]
        if not self.allowed_quantizations:
            raise ValidationError({"allowed_quantizations": "Allow at least one quantisation."})
        if bad:
            raise ValidationError(
                {"allowed_quantizations": f"Unknown quantisation(s): {', '.join(bad)}"}
            )
        uris = self.quantized_storage_uris
        if not isinstance(uris, dict):
            raise ValidationError(
                {"quantized_storage_uris": "Use a JSON object of precision: URI."}
            )
        problems = [
            f"{q!r} is not a pre-quantised precision" for q in uris if q not in PREQUANTIZED
        ]
        problems += [
            f"{q} is allowed but has no weights in that format"
            for q in self.allowed_quantizations
            if q in PREQUANTIZED and not uris.get(q)
        ]
        for q, uri in uris.items():
            try:
                STORAGE_URI(uri if isinstance(uri, str) else "")
            except ValidationError:
                problems.append(f"{q}: {uri!r} is not an allowed storage URI")
        if problems:
            raise ValidationError({"quantized_storage_uris": "; ".join(problems) + "."})

    def storage_uri_for(self, quantization: str) -> str | None:
        """Where the weights for `quantization` live (None: no weights in that format).

        AWQ, GPTQ and INT8 need checkpoints made in that format; bf16, fp16 and fp8 (which
        vLLM quantises at load time) read the 16-bit weights."""
        if quantization in PREQUANTIZED:
            return (self.quantized_storage_uris or {}).get(quantization) or None
        return self.storage_uri

    def tensor_parallel_problem(self, gpu_count: int) -> str | None:
        """Why vLLM cannot split this model over `gpu_count` GPUs (None when it can)."""
        heads = self.num_attention_heads
        if heads and gpu_count and heads % gpu_count:
            return (
                f"{self.name} has {heads} attention heads, which {gpu_count} GPUs per replica "
                f"do not divide evenly (vLLM needs the tensor-parallel size to divide them)."
            )
        return None


class GpuType(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=30, unique=True, help_text="e.g. L4, A100-80GB, H100")
    memory_gib = models.DecimalField(max_digits=6, decimal_places=1)
    node_label_value = models.CharField(
        max_length=60,
        blank=True,
        help_text="Value of the GPU-name node label (karpenter.k8s.aws/instance-gpu-name), e.g. l4",
    )
    max_gpus_per_pool = models.PositiveIntegerField(
        default=32,
        validators=[MaxValueValidator(10000)],
        help_text="The platform's ceiling for this GPU type: the most GPUs Karpenter may run in "
        "each of its node pools (one per instance family and capacity type), the NodePool's "
        "nvidia.com/gpu limit.",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["memory_gib", "name"]
        verbose_name = "GPU type"

    def __str__(self) -> str:
        return self.name


class InstanceOffering(models.Model):
    """A node type that carries a GPU type; prices per capacity type are GpuRate rows."""

    gpu_type = models.ForeignKey(GpuType, on_delete=models.PROTECT, related_name="offerings")
    instance_type = models.CharField(max_length=60, unique=True, help_text="e.g. g6e.xlarge")
    gpus_per_node = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    node_labels = models.JSONField(
        default=dict, blank=True, help_text="Extra node labels to select this offering."
    )
    vcpus = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(4096)],
        help_text="vCPUs of one node (what Karpenter fits pods against).",
    )
    memory_gib = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65536)],
        help_text="Memory of one node in GiB (what Karpenter fits pods against).",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["gpu_type__memory_gib", "gpus_per_node", "instance_type"]

    def __str__(self) -> str:
        return f"{self.instance_type} ({self.gpus_per_node}x {self.gpu_type})"

    @property
    def family(self) -> str:
        """The instance family (``g6e`` of ``g6e.xlarge``): one Karpenter pool per family and
        capacity type."""
        name = self.instance_type
        return name.split(".", 1)[0] if "." in name else name.split("-", 1)[0]

    def clean(self) -> None:
        if not isinstance(self.node_labels, dict):
            raise ValidationError({"node_labels": "Use a JSON object of label: value."})
        problems = label_problems(
            {**self.node_labels, "node.kubernetes.io/instance-type": self.instance_type}
        )
        if problems:
            raise ValidationError({"node_labels": "; ".join(problems)})


class GpuRate(models.Model):
    """Hourly price of one node of an offering for a capacity type, from `effective_from` on.

    A price change is a new row: the old one still prices the hours before it.
    """

    offering = models.ForeignKey(InstanceOffering, on_delete=models.CASCADE, related_name="rates")
    capacity_type = models.CharField(max_length=10, choices=CapacityType.choices)
    hourly_price = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Price of one node per hour.",
    )
    effective_from = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["offering__instance_type", "capacity_type", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["offering", "capacity_type", "effective_from"], name="unique_gpu_rate"
            ),
        ]
        verbose_name = "GPU rate"

    def __str__(self) -> str:
        return f"{self.offering.instance_type} {self.capacity_type} {self.hourly_price}/h"

    @property
    def per_gpu_hour(self) -> Decimal:
        return self.hourly_price / self.offering.gpus_per_node
