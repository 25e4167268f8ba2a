"""GPU prices with history. Usage rows and statements come with the chargeback work."""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from deployments.choices import CapacityType
from deployments.models import InstanceOffering


class GpuRate(models.Model):
    """Hourly price of one node of an offering for a capacity type, from `effective_from` on.

    A price change is a new row: the old one still prices the hours before it.
    """

    offering = models.ForeignKey(InstanceOffering, on_delete=models.CASCADE, related_name="rates")
    capacity_type = models.CharField(max_length=10, choices=CapacityType.choices)
    hourly_price = models.DecimalField(
        max_digits=12, decimal_places=4, validators=[MinValueValidator(Decimal("0"))],
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
