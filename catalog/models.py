"""The catalog: models teams may deploy, GPU types, the instance offerings that carry them,
and their prices over time. Deployments and billing both read it; it reads only the core."""

import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from portal.validators import DNS_LABEL, STORAGE_URI, label_problems

from .choices import CapacityType, Quantization


class CatalogModel(models.Model):
    """A model teams may deploy, with the architecture facts sizing needs."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True, help_text="Display name")
    slug = models.SlugField(max_length=40, unique=True, validators=[DNS_LABEL])
    storage_uri = models.CharField(max_length=300, validators=[STORAGE_URI])
    parameters_b = models.DecimalField(
        "parameters (billions)",
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(0.01)],
    )
    num_layers = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    num_kv_heads = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    head_dim = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    native_context_length = models.PositiveIntegerField(validators=[MinValueValidator(256)])
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


class GpuType(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=30, unique=True, help_text="e.g. L4, A100-80GB, H100")
    memory_gib = models.DecimalField(max_digits=6, decimal_places=1)
    node_label_value = models.CharField(
        max_length=60,
        blank=True,
        help_text="Value of the GPU-name node label (karpenter.k8s.aws/instance-gpu-name), e.g. l4",
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
    gpus_per_node = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    node_labels = models.JSONField(
        default=dict, blank=True, help_text="Extra node labels to select this offering."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["gpu_type__memory_gib", "gpus_per_node", "instance_type"]

    def __str__(self) -> str:
        return f"{self.instance_type} ({self.gpus_per_node}x {self.gpu_type})"

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
