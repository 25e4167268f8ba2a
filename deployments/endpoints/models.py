"""The endpoints teams request and their timelines."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from catalog.choices import CapacityType, Quantization
from catalog.models import CatalogModel, GpuType, InstanceOffering
from deployments.endpoints import rules
from deployments.endpoints.choices import FINAL_STATUSES, EndpointStatus, EventKind, KvCacheDtype
from deployments.workloads.models import TeamWorkload, WorkloadEvent, unique_live_name
from portal.models import Team
from portal.validators import DNS_LABEL, MAX_CONTEXT_LENGTH

# Leaves room for "-predictor" and the namespace in the URL host.
ENDPOINT_NAME_MAX = 40

# What Endpoint.clean() checks (deployments.endpoints.rules; the model choice is checked where it is made).
CLEAN_FIELDS = [
    "min_replicas",
    "max_replicas",
    "schedule_enabled",
    "schedule_timezone",
    "schedule_start",
    "schedule_end",
]


class Endpoint(TeamWorkload):
    final_statuses = FINAL_STATUSES

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="endpoints")
    name = models.CharField(
        max_length=ENDPOINT_NAME_MAX,
        validators=[DNS_LABEL],
        help_text="Lowercase letters, digits and '-'; unique within the team.",
    )
    model = models.ForeignKey(CatalogModel, on_delete=models.PROTECT, related_name="endpoints")
    gpu_type = models.ForeignKey(GpuType, on_delete=models.PROTECT, related_name="endpoints")
    gpu_count = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(8)],
        help_text="GPUs per replica (the tensor-parallel size).",
    )
    offering = models.ForeignKey(
        InstanceOffering,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    quantization = models.CharField(max_length=10, choices=Quantization.choices)
    kv_cache_dtype = models.CharField(
        max_length=10, choices=KvCacheDtype.choices, default=KvCacheDtype.AUTO
    )
    max_context_length = models.PositiveIntegerField(
        validators=[MinValueValidator(256), MaxValueValidator(MAX_CONTEXT_LENGTH)]
    )
    min_replicas = models.PositiveIntegerField(default=1, validators=[MaxValueValidator(100)])
    max_replicas = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    target_queue_depth = models.PositiveIntegerField(
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text="Waiting requests per replica before another replica is added.",
    )
    capacity_type = models.CharField(
        max_length=10, choices=CapacityType.choices, default=CapacityType.ON_DEMAND
    )
    spot_fallback_on_demand = models.BooleanField(
        "fall back to on-demand",
        default=False,
        help_text=(
            "Admin setting for spot endpoints: prefer spot nodes but run on on-demand ones "
            "when no spot capacity is left (billed at the on-demand price meanwhile)."
        ),
    )
    # Off-hours schedule: scale to zero outside the working-hours window.
    schedule_enabled = models.BooleanField(default=False)
    schedule_timezone = models.CharField(max_length=64, blank=True)
    schedule_start = models.TimeField(null=True, blank=True)
    schedule_end = models.TimeField(null=True, blank=True)
    schedule_weekdays_only = models.BooleanField(default=True)

    status = models.CharField(
        max_length=20,
        choices=EndpointStatus.choices,
        default=EndpointStatus.PENDING_APPROVAL,
        db_index=True,
    )
    url = models.URLField(max_length=300, blank=True)
    monthly_cost_min = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    monthly_cost_max = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    status_changed_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    cold_start_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Last measured start of a replica from nothing (provisioning until ready).",
    )

    class Meta(TeamWorkload.Meta):
        constraints = [
            # A deleted endpoint frees its name for a new one.
            unique_live_name("unique_live_endpoint_name_per_team"),
            models.CheckConstraint(
                condition=models.Q(min_replicas__lte=models.F("max_replicas")),
                name="endpoint_min_replicas_lte_max",
            ),
        ]

    @property
    def isvc_name(self) -> str:
        """Name of the InferenceService (and vLLM's served model name / `model_name` label)."""
        return self.name

    def clean(self) -> None:
        spec = {f: getattr(self, f) for f in CLEAN_FIELDS}
        problems = rules.spec_problems(spec, model_choice=False)
        if problems:
            raise ValidationError(problems)


class EndpointEvent(WorkloadEvent):
    """One line of an endpoint's timeline."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=EventKind.choices, default=EventKind.INFO)
    old_status = models.CharField(max_length=20, choices=EndpointStatus.choices, blank=True)
    new_status = models.CharField(max_length=20, choices=EndpointStatus.choices, blank=True)
    duration_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Time spent in the previous status (e.g. cold start)."
    )

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.get_kind_display()} {self.message}"
