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
        help_text=(
            "Planned start of a replica from nothing: the p95 of this model's starts on this "
            "GPU measured from their pods' stages (empty: the estimate is used)."
        ),
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


class ColdStart(models.Model):
    """One replica's start, stage by stage, read from its pod (deployments.endpoints.coldstart).

    One row per pod (`pod_uid`), so a sync that sees the same Ready pod again records nothing.
    `accepted=False` rows keep a start the stages did not support and why (`note`); only
    accepted ones count in a model's p50/p95 and steer the pre-warm lead."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="cold_starts")
    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="cold_starts")
    gpu_type = models.ForeignKey(GpuType, on_delete=models.CASCADE, related_name="cold_starts")
    pod_uid = models.CharField(max_length=64, unique=True)
    pod_name = models.CharField(max_length=253)
    node_name = models.CharField(max_length=253, blank=True)
    pending_at = models.DateTimeField(null=True, blank=True)
    node_launched_at = models.DateTimeField(null=True, blank=True)
    node_ready_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    weights_ready_at = models.DateTimeField(null=True, blank=True)
    engine_ready_at = models.DateTimeField(null=True, blank=True)
    seconds = models.PositiveIntegerField(null=True, blank=True)
    node_launched = models.BooleanField(default=False)
    cached = models.BooleanField(default=False, help_text="Weights from a node's model cache.")
    accepted = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-engine_ready_at", "-pk"]
        indexes = [models.Index(fields=["model", "gpu_type", "accepted", "cached"])]

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.pod_name} {self.seconds} s"

    @property
    def weights_seconds(self) -> int | None:
        """From scheduled to the download's end (None: nothing was downloaded)."""
        if self.weights_ready_at is None or self.scheduled_at is None:
            return None
        return int((self.weights_ready_at - self.scheduled_at).total_seconds())


class ModelCache(models.Model):
    """The platform team's choice: keep a catalog model's weights on the local disks of the
    nodes of one GPU type (a KServe LocalModelNodeGroup + LocalModelCache, rendered by
    deployments.endpoints.modelcache), so its endpoints on that GPU skip the download."""

    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="caches")
    gpu_type = models.ForeignKey(GpuType, on_delete=models.PROTECT, related_name="model_caches")
    quantization = models.CharField(max_length=10, choices=Quantization.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    status_message = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model", "gpu_type", "quantization"], name="unique_model_cache"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} ({self.quantization}) on {self.gpu_type} nodes"

    def clean(self) -> None:
        if not self.model_id or not self.quantization:
            return
        if not self.model.storage_uri_for(str(self.quantization)):
            raise ValidationError(
                {"quantization": f"{self.model} has no {self.quantization} weights to cache."}
            )
        if not self.gpu_type.node_label_value:
            raise ValidationError(
                {"gpu_type": f"{self.gpu_type} has no node label: its nodes cannot be selected."}
            )
