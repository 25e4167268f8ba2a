"""Hourly usage rows, month close, statements and budget alerts."""

import uuid as _uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

# --- chargeback: usage rows, month close, statements, budget alerts ---------------------------


class UsageKind(models.TextChoices):
    ALLOCATED = "allocated", "Allocated to a team"
    IDLE = "idle", "Idle node capacity"


class UsageRecord(models.Model):
    """GPU time for one hour, one owner and one offering.

    Allocated rows: one per (hour, team, endpoint or batch job, instance type, capacity type);
    a batch job's rows have the endpoint key "batch/<job name>" and `batch_job`. Idle rows
    (capacity of GPU nodes nobody requested): team and endpoint keys are empty. The collector
    rewrites whole hours, so re-collecting an hour overwrites its rows (never adds to them).
    GPU time on an offering without a price goes to `unpriced_gpu_seconds`: it is reported,
    never priced at zero.
    """

    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    kind = models.CharField(max_length=10, choices=UsageKind.choices, default=UsageKind.ALLOCATED)
    team_key = models.CharField(
        max_length=100,
        blank=True,
        help_text="Team as attributed from cluster labels (pod label, namespace label or namespace).",
    )
    team = models.ForeignKey(
        "portal.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
    )
    endpoint_key = models.CharField(max_length=100, blank=True)
    endpoint = models.ForeignKey(
        "deployments.Endpoint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
    )
    batch_job = models.ForeignKey(
        "deployments.BatchJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
        help_text="Set on the lines of batch job pods (endpoint key 'batch/<job name>').",
    )
    instance_type = models.CharField(max_length=60)
    capacity_type = models.CharField(max_length=20)
    gpu_type = models.CharField(max_length=30, blank=True)
    gpu_seconds = models.BigIntegerField(default=0)
    used_gpu_seconds = models.BigIntegerField(
        null=True, blank=True, help_text="Busy GPU time from DCGM; empty when DCGM had no data."
    )
    cost = models.DecimalField(
        max_digits=16,
        decimal_places=6,
        default=Decimal("0"),
        help_text="Cost of the priced GPU time (the rest is in unpriced_gpu_seconds).",
    )
    unpriced_gpu_seconds = models.BigIntegerField(
        default=0, help_text="GPU time on offerings missing from the price table."
    )
    prompt_tokens = models.BigIntegerField(default=0)
    generation_tokens = models.BigIntegerField(default=0)
    collected_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-hour", "team_key", "endpoint_key"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "hour",
                    "kind",
                    "team_key",
                    "endpoint_key",
                    "instance_type",
                    "capacity_type",
                ],
                name="unique_usage_hour",
            ),
        ]
        indexes = [models.Index(fields=["team", "hour"]), models.Index(fields=["hour"])]

    def __str__(self) -> str:
        who = self.team_key or "idle"
        return f"{self.hour:%Y-%m-%d %H:00} {who}/{self.endpoint_key or '-'} {self.gpu_seconds}s"

    @property
    def gpu_hours(self) -> Decimal:
        return Decimal(self.gpu_seconds) / 3600

    @property
    def priced(self) -> bool:
        return self.unpriced_gpu_seconds == 0

    @property
    def is_batch(self) -> bool:
        return self.endpoint_key.startswith("batch/")


class CollectedHour(models.Model):
    """A UTC hour that ``collect_gpu_usage`` measured, with or without usage in it: the month
    close and the statements read which share of a month's hours was collected."""

    hour = models.DateTimeField(unique=True)
    collected_at = models.DateTimeField(help_text="When the hour's rows were last written.")
    # What the collector last wrote for the hour, so a re-collection that measures the same
    # rows neither reads nor writes them (billing/services/usage/store.py): a digest of the
    # rows' keys and values, and their number (rows added or removed by other means are seen).
    digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    rows = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["hour"]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00}"


class IdlePolicy(models.TextChoices):
    PLATFORM = "platform", "Kept by the platform"
    SHARED = "shared", "Shared across teams in proportion to their GPU-hours"


class BillingPolicy(models.Model):
    """Platform-wide chargeback settings (one row, edited in the admin)."""

    idle_policy = models.CharField(
        max_length=10, choices=IdlePolicy.choices, default=IdlePolicy.PLATFORM
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "billing policy"
        verbose_name_plural = "billing policy"

    def __str__(self) -> str:
        return f"Idle cost: {self.get_idle_policy_display()}"

    @classmethod
    def current(cls) -> "BillingPolicy":
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class ReferencePrice(models.Model):
    """A hosted API's token price the cost per 1M tokens of an endpoint is compared with."""

    name = models.CharField(max_length=100, unique=True, help_text="e.g. 'GPT-4o mini (API)'")
    input_per_million = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Price per 1M prompt tokens.",
    )
    output_per_million = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Price per 1M generated tokens.",
    )
    is_default = models.BooleanField(default=False, help_text="Shown on cost pages.")

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name


class ChargebackStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Chargeback(models.Model):
    """One calendar month of the platform's bill. Closing is a compare-and-set on `status`;
    staff may re-open a closed month, which bumps `version` so the next close writes new
    statements next to the old ones."""

    month = models.DateField(unique=True, help_text="First day of the month.")
    status = models.CharField(
        max_length=10, choices=ChargebackStatus.choices, default=ChargebackStatus.OPEN
    )
    version = models.PositiveIntegerField(default=1)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} v{self.version} ({self.status})"


class Statement(models.Model):
    """A team's frozen bill for one month and version. Never changed after it is written."""

    uuid = models.UUIDField(default=_uuid.uuid4, unique=True, editable=False)
    chargeback = models.ForeignKey(Chargeback, on_delete=models.PROTECT, related_name="statements")
    team = models.ForeignKey("portal.Team", on_delete=models.PROTECT, related_name="statements")
    month = models.DateField()
    version = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    gpu_seconds = models.BigIntegerField()
    unpriced_gpu_seconds = models.BigIntegerField(default=0)
    usage_cost = models.DecimalField(max_digits=16, decimal_places=6)
    idle_share_cost = models.DecimalField(max_digits=16, decimal_places=6, default=Decimal("0"))
    total_cost = models.DecimalField(max_digits=16, decimal_places=6)
    idle_policy = models.CharField(max_length=10, choices=IdlePolicy.choices)
    lines = models.JSONField(
        help_text="Per endpoint × instance type × capacity type (strings for money)."
    )
    # Data completeness when it was written: hours of the month with collected usage, of all.
    # None on statements written before this was recorded.
    hours_collected = models.PositiveIntegerField(null=True, blank=True)
    hours_in_month = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "team__name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "month", "version"], name="unique_statement_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team} {self.month:%Y-%m} v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError(
                "Statements are immutable; re-open the month to issue a new version."
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Statements are immutable.")

    @property
    def gpu_hours(self) -> Decimal:
        return Decimal(self.gpu_seconds) / 3600

    @property
    def completeness(self) -> Decimal | None:
        """Share of the month's hours with collected usage (None: not recorded)."""
        if self.hours_collected is None or not self.hours_in_month:
            return None
        return Decimal(self.hours_collected) / Decimal(self.hours_in_month)


class BudgetAlert(models.Model):
    """A team crossed 50/80/100% of its monthly budget. One row per threshold per month."""

    THRESHOLDS = (50, 80, 100)

    team = models.ForeignKey("portal.Team", on_delete=models.CASCADE, related_name="budget_alerts")
    month = models.DateField()
    threshold = models.PositiveSmallIntegerField()
    spend = models.DecimalField(max_digits=16, decimal_places=2)
    budget = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    notify_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-month", "-threshold"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "month", "threshold"], name="unique_budget_alert"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team} {self.month:%Y-%m} {self.threshold}%"


# The savings advisor's dismissals live in their own module; imported so `billing.models` has them.
from .advisor_models import SavingsDismissal, SuggestionKind  # noqa: E402, F401
