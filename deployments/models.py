"""The model catalog, GPU types and instance offerings, and the endpoints teams request."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from portal.models import DNS_LABEL, Team

from .choices import (
    FINAL_STATUSES,
    CapacityType,
    DesiredState,
    EndpointStatus,
    EventKind,
    KvCacheDtype,
    Quantization,
)

STORAGE_URI = RegexValidator(
    r"^(hf://[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(:[0-9a-f]{7,40})?"
    r"|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?"
    r"|gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?"
    r"|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[A-Za-z0-9._/-]*)?)$",
    "Use hf://org/model[:revision], s3://bucket/path, gs://bucket/path or pvc://claim/path "
    "(letters, digits, '.', '_', '-' and '/' only).",
)

ENDPOINT_NAME_MAX = 40
# Precisions served from checkpoints made in that format (not quantised at load time).
PREQUANTIZED = ("awq", "gptq", "int8")


def _timezones() -> frozenset[str]:
    from .manifests import _timezones as zones

    return zones()  # leaves room for "-predictor" and the namespace in the URL host


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
    num_layers = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    num_kv_heads = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    num_attention_heads = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Query heads; the tensor-parallel size (GPUs per replica) must divide it.",
    )
    head_dim = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    native_context_length = models.PositiveIntegerField(validators=[MinValueValidator(256)])
    allowed_quantizations = models.JSONField(
        default=list, help_text=f"Any of: {', '.join(Quantization.values)}"
    )
    license = models.CharField(max_length=100, blank=True)
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
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["memory_gib", "name"]
        verbose_name = "GPU type"

    def __str__(self) -> str:
        return self.name


class InstanceOffering(models.Model):
    """A node type that carries a GPU type; prices per capacity type live in billing.GpuRate."""

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
        from .manifests import label_problems

        if not isinstance(self.node_labels, dict):
            raise ValidationError({"node_labels": "Use a JSON object of label: value."})
        problems = label_problems(
            {**self.node_labels, "node.kubernetes.io/instance-type": self.instance_type}
        )
        if problems:
            raise ValidationError({"node_labels": "; ".join(problems)})


class Endpoint(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
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
    max_context_length = models.PositiveIntegerField(validators=[MinValueValidator(256)])
    min_replicas = models.PositiveIntegerField(default=1, validators=[MaxValueValidator(100)])
    max_replicas = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    target_queue_depth = models.PositiveIntegerField(
        default=4,
        validators=[MinValueValidator(1)],
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

    desired_state = models.CharField(
        max_length=10, choices=DesiredState.choices, default=DesiredState.PRESENT
    )
    generation = models.PositiveIntegerField(default=1)
    applied_generation = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=20,
        choices=EndpointStatus.choices,
        default=EndpointStatus.PENDING_APPROVAL,
        db_index=True,
    )
    status_message = models.TextField(blank=True)
    url = models.URLField(max_length=300, blank=True)
    monthly_cost_min = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    monthly_cost_max = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    cold_start_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Last measured start of a replica from nothing (provisioning until ready).",
    )
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            # A deleted endpoint frees its name for a new one.
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=~models.Q(status="deleted"),
                name="unique_live_endpoint_name_per_team",
            ),
            models.CheckConstraint(
                condition=models.Q(min_replicas__lte=models.F("max_replicas")),
                name="endpoint_min_replicas_lte_max",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def namespace(self) -> str:
        return self.team.namespace

    @property
    def isvc_name(self) -> str:
        """Name of the InferenceService (and vLLM's served model name / `model_name` label)."""
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.min_replicas is not None and self.max_replicas is not None:
            if self.min_replicas > self.max_replicas:
                errors["min_replicas"] = "Minimum replicas cannot be above maximum replicas."
        if self.schedule_enabled:
            if not self.schedule_timezone:
                errors["schedule_timezone"] = "Pick the time zone of the working hours."
        if self.schedule_timezone and self.schedule_timezone not in _timezones():
            errors["schedule_timezone"] = (
                f"Unknown time zone {self.schedule_timezone!r}: use an IANA name such as "
                "Europe/Berlin."
            )
        if self.schedule_enabled:
            if self.schedule_start is None:
                errors["schedule_start"] = "Set when working hours start."
            if self.schedule_end is None:
                errors["schedule_end"] = "Set when working hours end."
            elif self.schedule_start is not None and self.schedule_end == self.schedule_start:
                errors["schedule_end"] = (
                    "Working hours must end at a different time than they start."
                )
        if errors:
            raise ValidationError(errors)


class EndpointEvent(models.Model):
    """One line of an endpoint's timeline."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=10, choices=EventKind.choices, default=EventKind.INFO)
    old_status = models.CharField(max_length=20, choices=EndpointStatus.choices, blank=True)
    new_status = models.CharField(max_length=20, choices=EndpointStatus.choices, blank=True)
    message = models.TextField(blank=True)
    generation = models.PositiveIntegerField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Time spent in the previous status (e.g. cold start)."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.get_kind_display()} {self.message}"
