"""Batch jobs and their timelines (imported by deployments.models).

A module of its own so the endpoint models and the batch models grow without touching each
other; `deployments.models` imports these classes so Django and the rest of the code find
them under the usual name.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Sum

from catalog.choices import CapacityType, Quantization
from catalog.models import CatalogModel, GpuType, InstanceOffering
from deployments.batch.choices import (
    BATCH_ACTIVE_STATUSES,
    BATCH_FINAL_STATUSES,
    BatchEventKind,
    BatchJobStatus,
    ShardState,
)
from deployments.workloads.choices import DesiredState
from deployments.workloads.models import TeamWorkload, WorkloadEvent, unique_live_name
from portal.models import Team
from portal.validators import (
    DNS_LABEL,
    MAX_CONTEXT_LENGTH,
    batch_input_uri_problem,
    batch_output_uri_problem,
)

# "<name>-r<run>" must stay a DNS label and leave room for the pod suffix "-<index>-<hash>".
BATCH_JOB_NAME_MAX = 40
MAX_SHARDS = 1000


def validate_cost_cap(value) -> None:
    """A cost cap is an amount of money above zero (a cap of 0 or less would approve a job that
    is stopped at once). The one place of the rule: the field, forms, API and service."""
    if value is not None and value <= 0:
        raise ValidationError(
            f"The cost cap must be more than 0 (got {value}).", code="cost_cap_not_positive"
        )


def shard_count(
    shards: int | None, target_shard_tokens: int | None, expected_tokens: int | None
) -> int:
    """The number of shards, given either directly or as a target shard size (tokens per
    shard, with the input's expected tokens): never both. ValidationError by field."""
    if target_shard_tokens is None:
        return shards or 1
    if shards is not None:
        raise ValidationError(
            {
                "target_shard_tokens": "Give either the number of shards or a target shard "
                "size, not both."
            }
        )
    if not expected_tokens:
        raise ValidationError(
            {"expected_tokens": "A target shard size needs the expected tokens of the input."}
        )
    count = -(-int(expected_tokens) // int(target_shard_tokens))  # ceiling
    if count > MAX_SHARDS:
        raise ValidationError(
            {
                "target_shard_tokens": f"{expected_tokens} tokens in shards of "
                f"{target_shard_tokens} make {count} shards; at most {MAX_SHARDS} are allowed "
                "(choose bigger shards)."
            }
        )
    return count


class BatchJobQuerySet(models.QuerySet):
    def gpu_usage(self, team: Team, gpu_type: GpuType) -> dict:
        """GPUs held by the team's live batch jobs (GPUs per shard x parallel shards), all and
        of `gpu_type`, and their estimated cost: what the endpoint quota and budget rules
        (deployments.endpoints.services) add to the endpoints' own usage."""
        live = Q(team=team, status__in=BATCH_ACTIVE_STATUSES) & ~Q(
            desired_state=DesiredState.ABSENT
        )
        gpus = F("gpu_count") * F("parallelism")
        usage = self.filter(live).aggregate(
            in_use=Sum(gpus),
            type_in_use=Sum(gpus, filter=Q(gpu_type=gpu_type)),
            committed=Sum("estimated_cost"),
        )
        return {key: value or 0 for key, value in usage.items()}


class BatchJob(TeamWorkload):
    final_statuses = BATCH_FINAL_STATUSES

    # Shards retry on spot capacity (interruptions do not count); they never fall back to
    # on-demand nodes (read by manifests.node_selector, shared with endpoints).
    spot_fallback_on_demand = False

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="batch_jobs")
    name = models.CharField(
        max_length=BATCH_JOB_NAME_MAX,
        validators=[DNS_LABEL],
        help_text="Lowercase letters, digits and '-'; unique within the team.",
    )
    model = models.ForeignKey(CatalogModel, on_delete=models.PROTECT, related_name="batch_jobs")
    quantization = models.CharField(max_length=10, choices=Quantization.choices)
    max_context_length = models.PositiveIntegerField(
        default=8192, validators=[MinValueValidator(256), MaxValueValidator(MAX_CONTEXT_LENGTH)]
    )
    gpu_type = models.ForeignKey(GpuType, on_delete=models.PROTECT, related_name="batch_jobs")
    gpu_count = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(8)],
        help_text="GPUs per shard (the tensor-parallel size).",
    )
    offering = models.ForeignKey(
        InstanceOffering, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    capacity_type = models.CharField(
        max_length=10, choices=CapacityType.choices, default=CapacityType.SPOT
    )
    input_uri = models.CharField(
        max_length=300, help_text="OpenAI batch-format JSONL: s3://, pvc:// or hf:// URI."
    )
    output_uri = models.CharField(
        max_length=300, help_text="Folder for the shard outputs: s3:// or pvc:// URI."
    )
    shards = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_SHARDS)]
    )
    target_shard_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1000), MaxValueValidator(10**15)],
        help_text="Instead of the number of shards: tokens per shard (shards = expected "
        "tokens / this, rounded up).",
    )
    parallelism = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Shards that run at the same time.",
    )
    backoff_limit_per_index = models.PositiveIntegerField(
        default=3,
        validators=[MaxValueValidator(20)],
        help_text="Failed attempts per shard before it counts as failed (interruptions do not "
        "count).",
    )
    expected_tokens = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(10**15)],
        help_text="Prompt + generated tokens of the whole input.",
    )
    deadline_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text="Stop the run after this many hours (activeDeadlineSeconds).",
    )
    cost_cap = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[validate_cost_cap]
    )

    # The estimate made at request time (catalog.pricing, measured or catalog throughput).
    estimated_gpu_hours = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    estimated_cost_on_demand = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    throughput_source = models.CharField(max_length=20, blank=True)

    run = models.PositiveIntegerField(default=1, help_text="Number of the current Job run.")
    run_shards = models.JSONField(
        default=list, blank=True, help_text="Shard of each completion index of the current run."
    )
    shard_states = models.JSONField(
        default=list, blank=True, help_text="Per shard: state, attempts, interruptions, tokens."
    )
    status = models.CharField(
        max_length=20,
        choices=BatchJobStatus.choices,
        default=BatchJobStatus.PENDING_APPROVAL,
        db_index=True,
    )

    # What the runs measured (from the shard pods' termination messages and times).
    tokens_in = models.PositiveBigIntegerField(default=0)
    tokens_out = models.PositiveBigIntegerField(default=0)
    gpu_seconds = models.PositiveBigIntegerField(default=0)
    interruptions = models.PositiveIntegerField(default=0)

    status_changed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BatchJobQuerySet.as_manager()

    class Meta(TeamWorkload.Meta):
        constraints = [
            unique_live_name("unique_live_batch_job_name_per_team"),
        ]

    @property
    def job_name(self) -> str:
        """Name of the current run's Job (a resume or retry is a new Job: a new name)."""
        return f"{self.name}-r{self.run}"

    def shards_in(self, state: str) -> list[int]:
        return [i for i, s in enumerate(self.shard_states) if s.get("state") == state]

    @property
    def shard_counts(self) -> dict[str, int]:
        counts = {state: 0 for state in ShardState.values}
        for shard in self.shard_states:
            counts[shard.get("state", ShardState.PENDING)] += 1
        counts["retried"] = sum(
            1 for s in self.shard_states if s.get("failures", 0) + s.get("interruptions", 0)
        )
        return counts

    @property
    def shard_progress(self) -> list[dict]:
        """Per shard, for the API and the page: its state and counters plus the progress
        marker (requests done of requests, percent; 100 once committed)."""
        rows = []
        for number, shard in enumerate(self.shard_states):
            row = {k: v for k, v in shard.items() if k != "seen"} | {"shard": number}
            total, done = int(shard.get("requests") or 0), int(shard.get("requests_done") or 0)
            if shard.get("state") == ShardState.DONE:
                percent = 100
            else:
                percent = min(100 * done // total, 99) if total else 0
            rows.append(row | {"requests": total, "requests_done": done, "percent": percent})
        return rows

    def clean(self) -> None:
        errors = {}
        for field, problem in (
            ("input_uri", batch_input_uri_problem(self.input_uri)),
            ("output_uri", batch_output_uri_problem(self.output_uri)),
        ):
            if problem:
                errors[field] = problem
        if self.shards and self.parallelism and self.parallelism > self.shards:
            errors["parallelism"] = "Cannot run more shards at once than there are shards."
        if errors:
            raise ValidationError(errors)


class BatchJobEvent(WorkloadEvent):
    """One line of a batch job's timeline (requests, interruptions with their cause, ...)."""

    batch_job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(
        max_length=12, choices=BatchEventKind.choices, default=BatchEventKind.STATUS
    )
    old_status = models.CharField(max_length=20, choices=BatchJobStatus.choices, blank=True)
    new_status = models.CharField(max_length=20, choices=BatchJobStatus.choices, blank=True)
    shard = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.batch_job}: {self.get_kind_display()} {self.message}"
