"""Batch job use cases: estimate, request, approve/reject, cancel, resume, retry failed shards,
delete, and recording what the cluster reports.

Quota, approval and budget rules are the endpoints' (deployments.endpoints.services.estimate_request):
a batch job holds `gpu_count x parallelism` GPUs and commits its estimated cost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from catalog import pricing
from catalog.choices import CapacityType
from catalog.models import CatalogModel, GpuType
from catalog.pricing import OfferingPrice, cheapest_offering
from deployments.batch.choices import (
    BATCH_TRANSITIONS,
    BatchEventKind,
    BatchJobStatus,
    ShardState,
)
from deployments.batch.manifests import model_uri_problem
from deployments.batch.models import BatchJob, BatchJobEvent, validate_cost_cap
from deployments.batch.names import APPLY_BATCH_JOB
from deployments.batch.observe import Observation, new_shard
from deployments.endpoints import admission
from deployments.workloads import admission as core_admission
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import (
    DeploymentError,
    DuplicateEndpoint,
    InvalidTransition,
)
from deployments.workloads.requests import RequestBook, record_action, record_request
from portal import jobs, timeutil
from portal.audit import snapshot
from portal.models import AuditLog, Team, User

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
MILLION = Decimal(1_000_000)
SPEC_FIELDS = [
    "model",
    "quantization",
    "max_context_length",
    "gpu_type",
    "gpu_count",
    "capacity_type",
    "input_uri",
    "output_uri",
    "shards",
    "target_shard_tokens",
    "parallelism",
    "backoff_limit_per_index",
    "expected_tokens",
    "deadline_hours",
    "cost_cap",
]
AUDIT_FIELDS = ["name", *SPEC_FIELDS, "desired_state", "generation", "run", "status"]


class DuplicateBatchJob(DuplicateEndpoint):
    pass


# --- estimate ---------------------------------------------------------------------------


def throughput(model: CatalogModel, gpu_type: GpuType) -> tuple[Decimal | None, str]:
    """Tokens per GPU-second: measured on this model and GPU type by finished batch jobs (one
    query), else the catalog's figure, else unknown."""
    measured = BatchJob.objects.filter(
        model=model, gpu_type=gpu_type, status=BatchJobStatus.SUCCEEDED, gpu_seconds__gt=0
    ).aggregate(tokens=Sum(F("tokens_in") + F("tokens_out")), seconds=Sum("gpu_seconds"))
    if measured["tokens"] and measured["seconds"]:
        return Decimal(measured["tokens"]) / Decimal(measured["seconds"]), "measured"
    if model.batch_tokens_per_gpu_second:
        return model.batch_tokens_per_gpu_second, "catalog"
    return None, ""


@dataclass
class BatchEstimate:
    offering: OfferingPrice | None
    on_demand: OfferingPrice | None
    tokens_per_gpu_second: Decimal | None
    throughput_source: str
    gpu_hours: Decimal | None
    cost: Decimal | None
    cost_on_demand: Decimal | None
    rules: core_admission.Admission  # quota, approval and budget (the core's verdict)

    @property
    def problems(self) -> list[str]:
        return self.rules.problems

    @property
    def approval_reasons(self) -> list[str]:
        return self.rules.approval_reasons

    @property
    def saving(self) -> Decimal | None:
        if self.cost is None or not self.cost_on_demand:
            return None
        return ((1 - self.cost / self.cost_on_demand) * 100).quantize(Decimal("1"))


def gpu_cost(gpu_seconds: int | Decimal, price: OfferingPrice | None) -> Decimal | None:
    if price is None:
        return None
    return price.gpu_seconds_cost(gpu_seconds)


def estimate_batch(team: Team, data: dict[str, Any], *, usage=None, rules=None) -> BatchEstimate:
    """Tokens x throughput -> GPU-hours -> money at the chosen capacity and on-demand, plus
    the endpoints' quota, approval and budget rules for gpu_count x parallelism GPUs."""
    gpu_type, gpus = data["gpu_type"], int(data.get("gpu_count") or 1)
    capacity = data.get("capacity_type") or CapacityType.SPOT
    offering = cheapest_offering(gpu_type, capacity, gpus)
    on_demand = cheapest_offering(gpu_type, CapacityType.ON_DEMAND, gpus)
    tps, source = throughput(data["model"], gpu_type)
    gpu_seconds = None
    if tps and data.get("expected_tokens"):
        gpu_seconds = Decimal(int(data["expected_tokens"])) / tps
    cost = gpu_cost(gpu_seconds, offering) if gpu_seconds is not None else None
    parallel = int(data.get("parallelism") or 1)
    shards = f" ({gpus} per shard x {parallel} shards at once)"
    facts = core_admission.gather(
        team, gpu_type, usage or admission.team_usage(team, gpu_type), rules
    )
    estimate = core_admission.judge(
        facts,
        gpus * parallel,
        cost or Decimal("0"),
        core_admission.Wording(
            gpus=shards,
            type_gpus=shards,
            cost="Estimated cost of the batch job",
            subject="this batch job",
            commitment=" plus this batch job's estimated total cost",
            one_off=True,
        ),
    )
    if offering is None:
        estimate.refusals.insert(0, core_admission.offering_refusal(capacity, gpus, gpu_type))
    if cost is None and team.approval_cost_threshold is not None:
        estimate.approval_reasons.append(
            "The cost cannot be estimated (give expected tokens, or the model has no measured "
            "or catalog throughput), so the approval threshold cannot be checked."
        )
    cap = data.get("cost_cap")
    if cap is not None and cost is not None and cost > cap:
        estimate.refusals.append(
            core_admission.Refusal(
                "budget", f"The estimate ({cost}) is above the cost cap ({cap})."
            )
        )
    return BatchEstimate(
        offering=offering,
        on_demand=on_demand,
        tokens_per_gpu_second=tps,
        throughput_source=source,
        gpu_hours=(gpu_seconds / 3600).quantize(CENT) if gpu_seconds is not None else None,
        cost=cost,
        cost_on_demand=gpu_cost(gpu_seconds, on_demand) if gpu_seconds is not None else None,
        rules=estimate,
    )


def running_cost(job: BatchJob, running_gpu_seconds: int = 0) -> Decimal | None:
    """Cost so far at the job's capacity type: finished attempts (job.gpu_seconds) plus the GPU
    time of the pods still running (catalog prices are cached: no query per job)."""
    offering = cheapest_offering(job.gpu_type, job.capacity_type, job.gpu_count)
    return gpu_cost(job.gpu_seconds + running_gpu_seconds, offering)


def cost_report(job: BatchJob) -> dict[str, Any]:
    """What the runs used: tokens, GPU-hours, cost at the job's capacity and on-demand, and
    both per 1M tokens (the reference API price is billing's: see billing.views)."""
    on_demand = cheapest_offering(job.gpu_type, CapacityType.ON_DEMAND, job.gpu_count)
    tokens = job.tokens_in + job.tokens_out
    cost, cost_od = running_cost(job), gpu_cost(job.gpu_seconds, on_demand)

    def per_million(value):
        return pricing.per_million_tokens_cost(value, tokens) if value and tokens else None

    return {
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "gpu_hours": (Decimal(job.gpu_seconds) / 3600).quantize(CENT),
        "cost": cost,
        "cost_on_demand": cost_od,
        "cost_per_million": per_million(cost),
        "cost_per_million_on_demand": per_million(cost_od),
        "interruptions": job.interruptions,
    }


# --- request and approval -----------------------------------------------------------------


def _event(job: BatchJob, kind: str, message: str, **fields: Any) -> BatchJobEvent:
    actor = fields.pop("actor", None)
    return BatchJobEvent(
        batch_job=job,
        kind=kind,
        message=message,
        generation=job.generation,
        actor=actor if actor is not None and actor.is_authenticated else None,
        **fields,
    )


REQUEST_BOOK = RequestBook(
    "batch_job", APPLY_BATCH_JOB, BATCH_TRANSITIONS, event=_event, audit_fields=AUDIT_FIELDS
)


def _set_status(job: BatchJob, status: str, message: str = "") -> str:
    old = BATCH_TRANSITIONS.move(job, status, message)
    job.status_changed_at = _transition_time(job, timezone.now(), status)
    return old


def _transition_time(job: BatchJob, now: datetime, status: str) -> datetime:
    """`now`, or the previous transition's time when the clock reads earlier (logged)."""
    at, skew = timeutil.not_before(now, job.status_changed_at)
    if skew:
        log.warning(
            "batch_job=%s clock skew: transition to %s is %.1f s before the previous one "
            "(%s); recorded at the previous time",
            job.pk,
            status,
            skew.total_seconds(),
            at.isoformat(),
        )
    return at


def _check_model(data: dict[str, Any]) -> None:
    admission.validate_model_choice(data["model"], data["quantization"], data["max_context_length"])
    problem = model_uri_problem(data["model"].storage_uri)
    if problem:
        raise DeploymentError(problem[0].upper() + problem[1:] + ".", field="model")
    admission.check_sizing({**data, "kv_cache_dtype": "auto"})


def request_batch_job(
    team: Team, user: User, data: dict[str, Any], source: str = AuditLog.Source.WEB
) -> BatchJob:
    """Create a batch job from validated data; auto-approve within the rules or wait."""
    model = data["model"]
    data = {
        "max_context_length": min(8192, model.native_context_length),
        "quantization": (model.allowed_quantizations or ["bf16"])[0],
        **{k: v for k, v in data.items() if v is not None or k in ("expected_tokens", "cost_cap")},
    }
    try:
        validate_cost_cap(data.get("cost_cap"))
    except ValidationError as exc:
        raise DeploymentError(exc.messages[0], field="cost_cap") from None
    _check_model(data)
    with transaction.atomic():
        team = core_admission.with_rules(Team.objects.select_for_update(), data["gpu_type"]).get(
            pk=team.pk
        )
        if (
            BatchJob.objects.filter(team=team, name=data["name"])
            .exclude(status=BatchJobStatus.DELETED)
            .exists()
        ):
            raise DuplicateBatchJob(f"The team already has a batch job named {data['name']!r}.")
        estimate = estimate_batch(team, data, rules=(team.type_quota, team.always_approve))
        core_admission.raise_for_problems(estimate.rules)
        job = BatchJob(team=team, requested_by=user, name=data["name"])
        for field in SPEC_FIELDS:
            if field in data:
                setattr(job, field, data[field])
        job.offering = estimate.offering.offering
        job.estimated_gpu_hours, job.estimated_cost = estimate.gpu_hours, estimate.cost
        job.estimated_cost_on_demand = estimate.cost_on_demand
        job.throughput_source = estimate.throughput_source
        job.run_shards = list(range(job.shards))
        job.shard_states = [new_shard() for _ in range(job.shards)]
        job.full_clean(exclude=["requested_by", "offering", "team", "model", "gpu_type", "uuid"])
        record_request(
            REQUEST_BOOK,
            job,
            user,
            needs_approval=bool(estimate.approval_reasons),
            reasons=estimate.approval_reasons,
            source=source,
            audit=lambda saved: snapshot(saved, AUDIT_FIELDS),
        )
    return job


def _lock(job: BatchJob) -> BatchJob:
    return BatchJob.objects.select_for_update().select_related("team").get(pk=job.pk)


_DONE = {
    "approve": "approved",
    "reject": "rejected",
    "cancel": "cancelled",
    "resume": "resumed",
    "retry": "retried",
    "delete": "deleted",
}


def _act(
    job: BatchJob,
    user: User,
    action: str,
    message: str,
    source: str,
    change,
) -> BatchJob:
    """Shared path of every decision and day-2 action: lock, check the status against the
    transition table, let `change` write the row (returns whether the cluster must follow),
    event, audit, enqueue."""
    verb = action.split(".")[-1]
    with transaction.atomic():
        job = _lock(job)
        BATCH_TRANSITIONS.check_action(
            verb,
            job.status,
            f"This batch job is {job.get_status_display().lower()}; it cannot be "
            f"{_DONE[verb]} now.",
        )
        before = snapshot(job, AUDIT_FIELDS)
        old = job.status
        enqueue = change(job)
        job.save()
        event = _event(
            job,
            BatchEventKind.ACTION,
            message,
            actor=user,
            old_status=old,
            new_status=job.status if job.status != old else "",
        )
        record_action(REQUEST_BOOK, job, user, event, action, source, before, enqueue)
    return job


def pending_batch_approvals_for(user: User):
    """Batch jobs waiting for a decision this user may take (the endpoints' rule)."""
    pending = BatchJob.objects.filter(status=BatchJobStatus.PENDING_APPROVAL)
    return core_admission.decidable_by(pending, user).select_related("model", "gpu_type")


def approve_batch_job(job: BatchJob, user: User, source: str = AuditLog.Source.WEB) -> BatchJob:
    def change(j: BatchJob) -> bool:
        core_admission.check_four_eyes(j, user, "batch job")
        _set_status(j, BatchJobStatus.APPROVED, f"Approved by {user}.")
        j.approved_by, j.approved_at = user, timezone.now()
        return True

    return _act(
        job,
        user,
        "batch_job.approve",
        f"Approved by {user}.",
        source,
        change,
    )


def reject_batch_job(
    job: BatchJob, user: User, reason: str = "", source: str = AuditLog.Source.WEB
) -> BatchJob:
    message = f"Rejected by {user}" + (f": {reason}" if reason else ".")

    def change(j: BatchJob) -> bool:
        _set_status(j, BatchJobStatus.REJECTED, message)
        return False

    return _act(job, user, "batch_job.reject", message, source, change)


# --- day 2 ------------------------------------------------------------------------------


def cancel_batch_job(job: BatchJob, user: User, source: str = AuditLog.Source.WEB) -> BatchJob:
    """Delete the run's Job; committed shard outputs stay where they are (resume uses them)."""

    def change(j: BatchJob) -> bool:
        j.desired_state, j.generation = DesiredState.STOPPED, j.generation + 1
        if j.applied_generation == 0:
            _set_status(j, BatchJobStatus.CANCELLED, f"Cancelled by {user}.")
            return False
        _set_status(j, BatchJobStatus.CANCELLING, f"Cancelled by {user}.")
        return True

    return _act(
        job,
        user,
        "batch_job.cancel",
        f"Cancelled by {user}.",
        source,
        change,
    )


def _new_run(
    job: BatchJob,
    user: User,
    shards: list[int],
    action: str,
    message: str,
    source: str,
) -> BatchJob:
    if not shards:
        raise InvalidTransition("There are no shards left to run.")

    def change(j: BatchJob) -> bool:
        spec = {
            f: getattr(j, f)
            for f in (
                "model",
                "gpu_type",
                "gpu_count",
                "capacity_type",
                "parallelism",
                "expected_tokens",
            )
        }
        spec["expected_tokens"] = None  # the estimate was committed at the request
        estimate = estimate_batch(j.team, spec)
        core_admission.raise_for_problems(estimate.rules)
        j.run += 1
        j.run_shards = shards
        for number in shards:
            j.shard_states[number]["state"] = ShardState.PENDING
            j.shard_states[number]["message"] = ""
        j.desired_state, j.generation = DesiredState.PRESENT, j.generation + 1
        j.finished_at = None
        _set_status(j, BatchJobStatus.APPLYING, message)
        return True

    return _act(job, user, action, message, source, change)


def resume_batch_job(job: BatchJob, user: User, source: str = AuditLog.Source.WEB) -> BatchJob:
    """A new Job over every shard without committed output."""
    todo = [i for i, s in enumerate(job.shard_states) if s.get("state") != ShardState.DONE]
    return _new_run(
        job,
        user,
        todo,
        "batch_job.resume",
        f"Resumed by {user}: {len(todo)} of {job.shards} shards left.",
        source,
    )


def retry_failed_shards(job: BatchJob, user: User, source: str = AuditLog.Source.WEB) -> BatchJob:
    """A new Job over the failed shards only."""
    failed = job.shards_in(ShardState.FAILED)
    return _new_run(
        job,
        user,
        failed,
        "batch_job.retry",
        f"Retry of {len(failed)} failed shard(s) by {user}.",
        source,
    )


def delete_batch_job(job: BatchJob, user: User, source: str = AuditLog.Source.WEB) -> BatchJob:
    """Remove the Jobs (and pods) from the cluster, then mark the row deleted."""
    if job.desired_state == DesiredState.ABSENT:
        return job

    def change(j: BatchJob) -> bool:
        never_applied = j.applied_generation == 0 and j.status in (
            BatchJobStatus.PENDING_APPROVAL,
            BatchJobStatus.REJECTED,
            BatchJobStatus.CANCELLED,
        )
        j.desired_state, j.generation = DesiredState.ABSENT, j.generation + 1
        if never_applied:
            _set_status(j, BatchJobStatus.DELETED, f"Deleted by {user}.")
            j.deleted_at = timezone.now()
            return False
        _set_status(j, BatchJobStatus.DELETING, f"Deleted by {user}.")
        return True

    return _act(
        job,
        user,
        "batch_job.delete",
        f"Deleted by {user}.",
        source,
        change,
    )


# --- what the cluster says ----------------------------------------------------------------


def record_applied(job: BatchJob, generation: int, status: str, message: str = "") -> bool:
    """Compare-and-set: the apply of `generation` landed (or the deletion finished)."""
    if not BATCH_TRANSITIONS.admits("batch_job", job, status):
        return False
    now = timezone.now()
    fields: dict[str, Any] = {"applied_generation": generation, "updated_at": now}
    if status != job.status or message != job.status_message:
        fields.update(
            status=status,
            status_message=message,
            status_changed_at=_transition_time(job, now, status),
        )
        if status == BatchJobStatus.RUNNING and job.started_at is None:
            fields["started_at"] = now
        if status == BatchJobStatus.DELETED:
            fields["deleted_at"] = now
    if not BatchJob.objects.filter(pk=job.pk, generation=generation).update(**fields):
        return False
    if "status" in fields:
        _event(
            job,
            BatchEventKind.STATUS if status != BatchJobStatus.FAILED else BatchEventKind.ERROR,
            message or BatchJobStatus(status).label,
            old_status=job.status,
            new_status=status,
        ).save()
    log.info("batch_job=%s applied generation=%s status=%s", job.pk, generation, status)
    return True


def _stop_at_cost_cap(job: BatchJob, obs: Observation, events: list[BatchJobEvent]) -> bool:
    """A running job whose running cost reached its cap is cancelled (as a person would: the
    Job is deleted, committed output kept), with a timeline line saying so."""
    if job.cost_cap is None or job.status != BatchJobStatus.RUNNING:
        return False
    cost = running_cost(job, obs.running_gpu_seconds)
    if cost is None or cost < job.cost_cap:
        return False
    message = (
        f"Stopped: the running cost ({cost}) reached the cost cap ({job.cost_cap}); the Job is "
        "deleted, committed shard output is kept (resume continues from it)."
    )
    job.desired_state, job.generation = DesiredState.STOPPED, job.generation + 1
    old = _set_status(job, BatchJobStatus.CANCELLING, message)
    events.append(
        _event(job, BatchEventKind.ACTION, message, old_status=old, new_status=job.status)
    )
    jobs.enqueue_on_commit(APPLY_BATCH_JOB, job.pk, job.generation)
    log.warning("batch_job=%s cost cap %s reached at %s: cancelling", job.pk, job.cost_cap, cost)
    return True


def record_observations(observed: list[tuple[BatchJob, Observation]]) -> int:
    """Write the observations of many jobs in one UPDATE and one INSERT (the caller holds the
    rows locked, loaded at their generation), and cancel the jobs whose running cost reached
    their cost cap. Returns how many jobs changed."""
    now = timezone.now()
    changed: list[BatchJob] = []
    events: list[BatchJobEvent] = []
    for job, obs in observed:
        before = (job.shard_states, job.status, job.status_message)
        if (obs.shard_states, obs.status, obs.message) == before:
            if _stop_at_cost_cap(job, obs, events):
                changed.append(job)
            continue
        if not BATCH_TRANSITIONS.admits("batch_job", job, obs.status):
            continue  # logged; nothing of this observation is written
        events += [_event(job, kind, text, shard=shard) for kind, shard, text in obs.events]
        if obs.status != job.status:
            events.append(
                _event(
                    job,
                    BatchEventKind.ERROR
                    if obs.status == BatchJobStatus.FAILED
                    else BatchEventKind.STATUS,
                    obs.message or BatchJobStatus(obs.status).label,
                    old_status=job.status,
                    new_status=obs.status,
                )
            )
            # The Job controller's own time for a finished run, else when we saw the change.
            at = min(obs.changed_at, now) if obs.changed_at else now
            job.status_changed_at = _transition_time(job, at, obs.status)
            BATCH_TRANSITIONS.move(job, obs.status)
            if job.is_final:
                job.finished_at = job.status_changed_at
        job.shard_states, job.status_message = obs.shard_states, obs.message
        for key, value in obs.totals.items():
            setattr(job, key, value)
        job.updated_at = now
        _stop_at_cost_cap(job, obs, events)
        changed.append(job)
    if changed:
        BatchJob.objects.bulk_update(
            changed,
            [
                "shard_states",
                "desired_state",
                "generation",
                "status",
                "status_message",
                "status_changed_at",
                "finished_at",
                "tokens_in",
                "tokens_out",
                "gpu_seconds",
                "interruptions",
                "updated_at",
            ],
        )
        BatchJobEvent.objects.bulk_create(events)
    return len(changed)
