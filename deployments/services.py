"""Endpoint use cases: request, approve, day-2 changes, delete, and recording what the cluster says.

Every change writes the desired state and an event inside one transaction, bumps the
generation when the cluster must follow, and enqueues `apply_endpoint` on commit.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from catalog import pricing
from catalog.choices import CapacityType
from catalog.models import CatalogModel, GpuType
from catalog.pricing import OfferingPrice, cheapest_offering, offering_prices
from portal import jobs
from portal.access import can_admin
from portal.audit import record_audit, snapshot
from portal.models import AuditLog, Team, TeamGpuQuota, User
from portal.templatetags.portal import money

from . import estimates, rules
from .choices import ACTIVE_STATUSES, DesiredState, EndpointStatus, EventKind
from .errors import (
    ApprovalRequired,
    BudgetExceeded,
    DeploymentError,
    DuplicateEndpoint,
    InvalidTransition,
    QuotaExceeded,
    SelfApproval,
)
from .models import BatchJob, Endpoint, EndpointEvent
from .names import APPLY_ENDPOINT
from .route_guard import refuse_if_routed
from .spend import projected_month_cost

log = logging.getLogger(__name__)


# Fields a request sets; the same list drives update_endpoint and the audit snapshots.
SPEC_FIELDS = [
    "model",
    "gpu_type",
    "gpu_count",
    "quantization",
    "kv_cache_dtype",
    "max_context_length",
    "min_replicas",
    "max_replicas",
    "target_queue_depth",
    "capacity_type",
    "schedule_enabled",
    "schedule_timezone",
    "schedule_start",
    "schedule_end",
    "schedule_weekdays_only",
]
SCHEDULE_FIELDS = (
    "schedule_enabled",
    "schedule_timezone",
    "schedule_start",
    "schedule_end",
    "schedule_weekdays_only",
)
AUDIT_FIELDS = [
    "name",
    *SPEC_FIELDS,
    "spot_fallback_on_demand",
    "desired_state",
    "generation",
    "status",
]


@dataclass(frozen=True)
class Refusal:
    """Why a request cannot be made: `kind` picks the error raised, `message` is for people."""

    kind: str  # "offering", "quota" or "budget"
    message: str


@dataclass
class Estimate:
    """What a request would cost and whether it fits the team's quota and rules."""

    offering: OfferingPrice | None
    monthly_cost_min: Decimal | None
    monthly_cost_max: Decimal | None
    gpus_requested: int
    gpus_in_use: int
    gpus_quota: int
    gpu_type_in_use: int
    gpu_type_quota: int | None
    approval_reasons: list[str]
    refusals: list[Refusal]
    budget_warning: str | None = None  # over budget under the "warn" policy (in the reasons)
    monthly: estimates.MonthlyCost | None = None  # the month's figures, schedule and always on

    @property
    def problems(self) -> list[str]:
        return [r.message for r in self.refusals]

    @property
    def gpus_headroom(self) -> int:
        return self.gpus_quota - self.gpus_in_use

    @property
    def needs_approval(self) -> bool:
        return bool(self.approval_reasons)


# --- estimates, quota and approval rules -------------------------------------------------


def _team_usage(
    team: Team, gpu_type: GpuType, exclude: Endpoint | None = None, name: str | None = None
) -> dict:
    """One aggregate over the team's endpoints: GPUs in use (all and of `gpu_type`) at max
    replicas and the committed monthly cost of its live ones, and (with `name`) whether a
    non-deleted endpoint already has that name."""
    qs = Endpoint.objects.filter(team=team).exclude(status=EndpointStatus.DELETED)
    if exclude is not None and exclude.pk:
        qs = qs.exclude(pk=exclude.pk)
    live = Q(status__in=ACTIVE_STATUSES) & ~Q(desired_state=DesiredState.ABSENT)
    gpus = F("gpu_count") * F("max_replicas")
    aggregates = {
        "in_use": Sum(gpus, filter=live),
        "type_in_use": Sum(gpus, filter=live & Q(gpu_type=gpu_type)),
        "committed": Sum("monthly_cost_max", filter=live),
    }
    if name is not None:
        aggregates["named"] = Count("pk", filter=Q(name=name))
    usage = qs.aggregate(**aggregates)
    # Batch jobs hold GPUs too: GPUs per shard x parallel shards, and their estimated cost.
    batch = BatchJob.objects.gpu_usage(team, gpu_type)
    return {
        "in_use": (usage["in_use"] or 0) + batch["in_use"],
        "type_in_use": (usage["type_in_use"] or 0) + batch["type_in_use"],
        "committed": (usage["committed"] or Decimal("0")) + batch["committed"],
        "name_taken": bool(usage.get("named")),
    }


def _with_rules(teams: QuerySet[Team], gpu_type: GpuType) -> QuerySet[Team]:
    """Annotate each team with its rules for `gpu_type`: `type_quota` (None: no per-type
    quota) and `always_approve` (that GPU type always needs approval)."""
    quota = TeamGpuQuota.objects.filter(team=OuterRef("pk"), gpu_type=gpu_type).order_by("pk")
    always = Team.approval_gpu_types.through.objects.filter(
        team_id=OuterRef("pk"), gputype_id=gpu_type.pk
    )
    return teams.annotate(
        type_quota=Subquery(quota.values("max_gpus")[:1]), always_approve=Exists(always)
    )


def _team_rules(team: Team, gpu_type: GpuType) -> tuple[int | None, bool]:
    """One query: the team's quota for `gpu_type` and whether it always needs approval."""
    return (
        _with_rules(Team.objects.filter(pk=team.pk), gpu_type)
        .values_list("type_quota", "always_approve")
        .get()
    )


def _quota_refusals(
    team: Team, gpu_type: GpuType, requested: int, usage: dict, type_quota: int | None
) -> list[Refusal]:
    refusals = []
    in_use, type_in_use = usage["in_use"], usage["type_in_use"]
    if in_use + requested > team.max_gpus:
        refusals.append(
            Refusal(
                "quota",
                f"Needs {requested} GPUs at max replicas but the team has "
                f"{max(team.max_gpus - in_use, 0)} of {team.max_gpus} left.",
            )
        )
    if type_quota is not None and type_in_use + requested > type_quota:
        refusals.append(
            Refusal(
                "quota",
                f"Needs {requested} {gpu_type.name} GPUs but the team has "
                f"{max(type_quota - type_in_use, 0)} of its {type_quota} {gpu_type.name} "
                "quota left.",
            )
        )
    return refusals


def _approval_reasons(
    team: Team,
    gpu_type: GpuType,
    always_approve: bool,
    cost: Decimal | None,
    cost_label: str = "Monthly cost at max replicas",
) -> list[str]:
    reasons = []
    if always_approve:
        reasons.append(f"{gpu_type.name} GPUs always need approval.")
    threshold = team.approval_cost_threshold
    if cost is not None and threshold is not None and cost > threshold:
        reasons.append(
            f"{cost_label} ({money(cost)}) is above the approval threshold ({money(threshold)})."
        )
    return reasons


def _budget_verdict(team: Team, committed: Decimal, cost_max: Decimal | None) -> Refusal | None:
    """Actual spend so far this month + every live endpoint, this one included, at max
    replicas until the month ends, against the team's budget (None when within it)."""
    if cost_max is None or team.monthly_budget is None:
        return None
    spent, projected = projected_month_cost(team, committed + cost_max)
    if projected <= team.monthly_budget:
        return None
    return Refusal(
        "budget",
        f"With this endpoint the team's projected cost this month ({money(projected)}: "
        f"{money(spent)} spent so far plus its endpoints at max replicas until the month "
        f"ends) would exceed its budget ({money(team.monthly_budget)}).",
    )


def estimate_request(
    team: Team,
    spec: dict[str, Any],
    exclude: Endpoint | None = None,
    *,
    usage: dict | None = None,
    gpu_rules: tuple[int | None, bool] | None = None,
    commits: tuple[Decimal, str] | None = None,
    month: datetime | None = None,
) -> Estimate:
    """Price, quota headroom and approval reasons for a spec (dict of SPEC_FIELDS values).

    `usage` (from _team_usage) and `gpu_rules` (type quota, always approve) are read here
    unless the caller already has them, e.g. from the locked team row. `commits` (cost, what
    it is) replaces the monthly cost at max replicas in the approval and budget rules, e.g. a
    batch job's estimated total cost. Monthly costs are for the calendar month of ``month``
    (default: now) with the spec's off-hours schedule (deployments.estimates).
    """
    gpu_type: GpuType = spec["gpu_type"]
    gpu_count = int(spec.get("gpu_count") or 1)
    max_r = int(spec.get("max_replicas") or 1)
    capacity = spec.get("capacity_type") or CapacityType.ON_DEMAND
    offering = cheapest_offering(gpu_type, capacity, gpu_count)
    refusals: list[Refusal] = []
    cost_min = cost_max = monthly = None
    if offering is None:
        refusals.append(
            Refusal(
                "offering",
                f"No {capacity} offering has {gpu_count} {gpu_type.name} GPU(s) on one node "
                "with a price.",
            )
        )
    else:
        measured = exclude.cold_start_seconds if exclude is not None else None
        monthly = estimates.monthly_cost(offering, spec, month or pricing.this_month(), measured)
        cost_min, cost_max = monthly.minimum, monthly.maximum
    requested = gpu_count * max_r
    if usage is None:
        usage = _team_usage(team, gpu_type, exclude=exclude)
    type_quota, always_approve = gpu_rules if gpu_rules is not None else _team_rules(team, gpu_type)
    refusals += _quota_refusals(team, gpu_type, requested, usage, type_quota)
    cost, cost_label = commits or (cost_max, "Monthly cost at max replicas")
    reasons = _approval_reasons(team, gpu_type, always_approve, cost, cost_label)
    over_budget = _budget_verdict(team, usage["committed"], cost)
    budget_warning = None
    if over_budget is not None:
        if team.over_budget_policy == Team.OverBudgetPolicy.REFUSE:
            refusals.append(over_budget)
        else:
            reasons.append(over_budget.message)
            budget_warning = over_budget.message
    return Estimate(
        offering=offering,
        monthly_cost_min=cost_min,
        monthly_cost_max=cost_max,
        gpus_requested=requested,
        gpus_in_use=usage["in_use"],
        gpus_quota=team.max_gpus,
        gpu_type_in_use=usage["type_in_use"],
        gpu_type_quota=type_quota,
        approval_reasons=reasons,
        refusals=refusals,
        budget_warning=budget_warning,
        monthly=monthly,
    )


def _change_approval_reasons(
    endpoint: Endpoint, old_gpu_type_id: int, old_cost: Decimal | None, spec: dict, estimate
) -> list[str]:
    """The team's approval rules for a change of `endpoint` (its spec before the change had
    `old_gpu_type_id` and `old_cost`): what the change brings, a GPU type that always needs
    approval when it is new to the endpoint, a monthly cost at max replicas above the
    threshold or over budget when the change raises it. A pending or rejected (resubmitted)
    request is judged whole."""
    if endpoint.status in (EndpointStatus.PENDING_APPROVAL, EndpointStatus.REJECTED):
        return estimate.approval_reasons
    gpu_type = spec["gpu_type"]
    cost = estimate.monthly_cost_max
    raised = cost is not None and (old_cost is None or cost > old_cost)
    always = gpu_type.pk != old_gpu_type_id and _team_rules(endpoint.team, gpu_type)[1]
    reasons = _approval_reasons(endpoint.team, gpu_type, always, cost if raised else None)
    if raised and estimate.budget_warning:
        reasons.append(estimate.budget_warning)
    return reasons


def _raise_for_problems(estimate: Estimate) -> None:
    """Raise the error of the first refusal (offering, then quota, then budget) with every
    refusal's message."""
    if not estimate.refusals:
        return
    message = " ".join(estimate.problems)
    kinds = {r.kind for r in estimate.refusals}
    if "offering" in kinds:
        raise DeploymentError(message, field="gpu_type")
    if "quota" in kinds:
        raise QuotaExceeded(message, field="max_replicas")
    raise BudgetExceeded(message)


SIZING_FIELDS = (
    "model",
    "gpu_type",
    "gpu_count",
    "quantization",
    "kv_cache_dtype",
    "max_context_length",
)


def fit_problem(spec: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) when the model cannot start on the spec's GPUs, else None: the one
    fit check of a request, a change and the live estimate (deployments.sizing)."""
    from .sizing import SizingInputError, check_spec_fits

    try:
        problem = check_spec_fits(spec)
    except SizingInputError as exc:
        return exc.field, exc.message
    if problem:
        return "gpu_count", problem
    heads = spec["model"].tensor_parallel_problem(int(spec.get("gpu_count") or 1))
    return ("gpu_count", heads) if heads else None


def _check_sizing(spec: dict[str, Any]) -> None:
    """Refuse a spec whose model cannot start on its GPUs."""
    problem = fit_problem(spec)
    if problem:
        raise DeploymentError(problem[1], field=problem[0])


@dataclass
class RequestCheck:
    """What the live estimate of the request and change forms shows, from the rules the
    request and change paths enforce: price, quota and approval (Estimate), the memory
    sizing, the fit problem the service would raise, and the form's own errors."""

    estimate: Estimate
    sizing: Any  # deployments.sizing.SizingResult, None until model, precision and context
    fit_problem: str | None
    invalid: list[str]  # the form's errors: not a valid request yet
    approval_reasons: list[str]  # for a change: only what the change itself brings

    @property
    def verdict(self) -> str:
        """ "refused" (quota, budget, no offering), "cannot_start", "incomplete" (form errors),
        "approval" or "auto"; the approval verdict is given only for a valid request."""
        if self.estimate.refusals:
            return "refused"
        if self.fit_problem:
            return "cannot_start"
        if self.invalid:
            return "incomplete"
        return "approval" if self.approval_reasons else "auto"


def check_request(
    team: Team,
    spec: dict[str, Any],
    *,
    invalid: list[str] | None = None,
    endpoint: Endpoint | None = None,
) -> RequestCheck:
    """The live estimate of a request (or, with `endpoint`, of a change to it) for a spec of
    SPEC_FIELDS values whose `gpu_type` is set."""
    from .sizing import SizingInputError, size_for_spec

    estimate = estimate_request(team, spec, exclude=endpoint)
    sizing = problem = None
    if spec.get("model") and spec.get("quantization") and spec.get("max_context_length"):
        try:
            sizing = size_for_spec(spec)
        except SizingInputError:
            sizing = None
        found = fit_problem(spec)
        problem = found[1] if found else None
        if problem and sizing is not None:
            # The panel's memory figures are the ones the problem names: what starting takes
            # (one full-length sequence), not the default concurrency's.
            sizing = size_for_spec(spec, concurrency=1)
    reasons = estimate.approval_reasons
    if endpoint is not None:
        reasons = _change_approval_reasons(
            endpoint, endpoint.gpu_type_id, endpoint.monthly_cost_max, spec, estimate
        )
    return RequestCheck(estimate, sizing, problem, list(invalid or []), reasons)


def _validate_model_choice(model: CatalogModel, quantization: str, context: int) -> None:
    for field, message in rules.model_choice_problems(model, quantization, context).items():
        raise DeploymentError(message, field=field)


# --- events and enqueueing ----------------------------------------------------------------


def add_event(endpoint: Endpoint, kind: str, message: str, **fields: Any) -> EndpointEvent:
    """Save one timeline event; `fields` are `_event`'s keyword arguments."""
    event = _event(endpoint, kind, message, **fields)
    event.save()
    return event


def _event(
    endpoint: Endpoint,
    kind: str,
    message: str,
    *,
    actor: User | None = None,
    old_status: str = "",
    new_status: str = "",
    duration_seconds: int | None = None,
) -> EndpointEvent:
    """An unsaved event (add_event saves one; request_endpoint bulk-creates two)."""
    return EndpointEvent(
        endpoint=endpoint,
        kind=kind,
        message=message,
        actor=actor if actor is not None and actor.is_authenticated else None,
        old_status=old_status,
        new_status=new_status,
        generation=endpoint.generation,
        duration_seconds=duration_seconds,
    )


def _enqueue_apply(endpoint: Endpoint) -> None:
    jobs.enqueue_on_commit(APPLY_ENDPOINT, endpoint.pk, endpoint.generation)


def _set_status(endpoint: Endpoint, status: str, message: str = "") -> tuple[str, int | None]:
    """Set status in memory; return the old status and seconds spent in it."""
    old = endpoint.status
    now = timezone.now()
    since = endpoint.status_changed_at or endpoint.created_at
    duration = int((now - since).total_seconds()) if since else None
    endpoint.status = status
    endpoint.status_message = message
    endpoint.status_changed_at = now
    if status == EndpointStatus.READY:
        endpoint.ready_at = now
    return old, duration


def _lock(endpoint: Endpoint) -> Endpoint:
    return Endpoint.objects.select_for_update().select_related("team").get(pk=endpoint.pk)


# --- use cases ----------------------------------------------------------------------------


def request_endpoint(
    team: Team, user: User, data: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Endpoint:
    """Create an endpoint from validated data; auto-approve or wait for approval."""
    _validate_model_choice(data["model"], data["quantization"], data["max_context_length"])
    _check_sizing(data)
    with transaction.atomic():
        # Serialise requests per team so two concurrent requests cannot both use the last GPUs;
        # the quota and budget rules are then read from the locked row (one query), the usage
        # and the name check from one aggregate.
        team = _with_rules(Team.objects.select_for_update(), data["gpu_type"]).get(pk=team.pk)
        usage = _team_usage(team, data["gpu_type"], name=data["name"])
        if usage["name_taken"]:
            raise DuplicateEndpoint(f"The team already has an endpoint named {data['name']!r}.")
        estimate = estimate_request(
            team, data, usage=usage, gpu_rules=(team.type_quota, team.always_approve)
        )
        _raise_for_problems(estimate)
        endpoint = Endpoint(team=team, requested_by=user, name=data["name"])
        for field in SPEC_FIELDS:
            if field in data:
                setattr(endpoint, field, data[field])
        endpoint.offering = estimate.offering.offering
        endpoint.monthly_cost_min = estimate.monthly_cost_min
        endpoint.monthly_cost_max = estimate.monthly_cost_max
        # Field checks and clean() (min <= max replicas, schedule). Not re-checked here: the
        # foreign keys (team, model, GPU type are rows loaded by this request, the team locked),
        # the random uuid, and the constraints: the live (team, name) uniqueness was checked
        # above under the team lock, and min <= max is clean()'s; the database enforces all.
        endpoint.full_clean(
            exclude=["requested_by", "offering", "team", "model", "gpu_type", "uuid"],
            validate_constraints=False,
        )
        if estimate.needs_approval:
            endpoint.status = EndpointStatus.PENDING_APPROVAL
            endpoint.status_message = " ".join(estimate.approval_reasons)
        else:
            endpoint.status = EndpointStatus.APPROVED
            endpoint.approved_at = timezone.now()
        endpoint.status_changed_at = timezone.now()
        endpoint.save()
        # Each event carries the status it brought: the request "Pending approval" (or
        # nothing), the automatic approval "Approved", never the request "Approved".
        requested = _event(
            endpoint,
            EventKind.REQUEST,
            f"Requested by {user}.",
            actor=user,
            new_status=EndpointStatus.PENDING_APPROVAL if estimate.needs_approval else "",
        )
        if estimate.needs_approval:
            decision = _event(
                endpoint,
                EventKind.APPROVAL,
                "Waiting for approval: " + " ".join(estimate.approval_reasons),
            )
        else:
            decision = _event(
                endpoint,
                EventKind.APPROVAL,
                "Approved automatically (within quota and rules).",
                new_status=EndpointStatus.APPROVED,
            )
            _enqueue_apply(endpoint)
        EndpointEvent.objects.bulk_create([requested, decision])
        record_audit(
            actor=user,
            action="endpoint.request",
            instance=endpoint,
            source=source,
            after=snapshot(endpoint, AUDIT_FIELDS),
        )
    return endpoint


def resubmit_endpoint(
    endpoint: Endpoint, user: User, changes: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Endpoint:
    """A rejected request, edited, goes through the request's rules again: model choice, fit,
    quota and budget, then approval (automatic or waiting for an approver)."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        if (
            endpoint.status != EndpointStatus.REJECTED
            or endpoint.desired_state == DesiredState.ABSENT
        ):
            raise InvalidTransition("Only a rejected request can be edited and resubmitted.")
        before = snapshot(endpoint, AUDIT_FIELDS)
        spec = {f: changes.get(f, getattr(endpoint, f)) for f in SPEC_FIELDS}
        _validate_model_choice(spec["model"], spec["quantization"], spec["max_context_length"])
        _check_sizing(spec)
        for field in SPEC_FIELDS:
            setattr(endpoint, field, spec[field])
        endpoint.full_clean(exclude=["requested_by", "offering", "approved_by"])
        estimate = estimate_request(endpoint.team, spec, exclude=endpoint)
        _raise_for_problems(estimate)
        endpoint.offering = estimate.offering.offering
        endpoint.monthly_cost_min = estimate.monthly_cost_min
        endpoint.monthly_cost_max = estimate.monthly_cost_max
        endpoint.generation += 1
        if estimate.needs_approval:
            target, decision = EndpointStatus.PENDING_APPROVAL, " ".join(estimate.approval_reasons)
        else:
            target, decision = EndpointStatus.APPROVED, ""
            endpoint.approved_at = timezone.now()
        old, duration = _set_status(endpoint, target, decision)
        endpoint.save()
        pending = target == EndpointStatus.PENDING_APPROVAL
        add_event(
            endpoint,
            EventKind.REQUEST,
            f"Edited and resubmitted by {user}.",
            actor=user,
            old_status=old,
            new_status=target if pending else "",
            duration_seconds=duration,
        )
        add_event(
            endpoint,
            EventKind.APPROVAL,
            "Waiting for approval: " + decision
            if pending
            else "Approved automatically (within quota and rules).",
            new_status="" if pending else target,
        )
        record_audit(
            actor=user,
            action="endpoint.resubmit",
            instance=endpoint,
            source=source,
            before=before,
            after=snapshot(endpoint, AUDIT_FIELDS),
        )
        if target == EndpointStatus.APPROVED:
            _enqueue_apply(endpoint)
    return endpoint


def _decide(
    endpoint: Endpoint,
    user: User,
    action: str,
    status: str,
    message: str,
    source: str,
    **audit_after: str,
) -> Endpoint:
    """Approve or reject a pending request: lock, check, set status, event, audit."""
    done = "approved" if status == EndpointStatus.APPROVED else "rejected"
    endpoint = _lock(endpoint)
    if endpoint.status != EndpointStatus.PENDING_APPROVAL:
        raise InvalidTransition(
            f"Only pending requests can be {done}; this one is "
            f"{endpoint.get_status_display().lower()}."
        )
    if status == EndpointStatus.APPROVED and endpoint.requested_by_id == user.pk:
        raise SelfApproval(
            "You requested this endpoint; another team admin or the platform team must "
            "approve it (four eyes)."
        )
    old, duration = _set_status(endpoint, status, message)
    fields = ["status", "status_message", "status_changed_at", "updated_at"]
    if status == EndpointStatus.APPROVED:
        endpoint.approved_by, endpoint.approved_at = user, timezone.now()
        fields += ["approved_by", "approved_at"]
    endpoint.save(update_fields=fields)
    add_event(
        endpoint,
        EventKind.APPROVAL,
        message,
        actor=user,
        old_status=old,
        new_status=endpoint.status,
        duration_seconds=duration,
    )
    record_audit(
        actor=user,
        action=action,
        instance=endpoint,
        source=source,
        before={"status": old},
        after={"status": endpoint.status, **audit_after},
    )
    return endpoint


def approve_endpoint(endpoint: Endpoint, user: User, source: str = AuditLog.Source.WEB) -> Endpoint:
    with transaction.atomic():
        endpoint = _decide(
            endpoint,
            user,
            "endpoint.approve",
            EndpointStatus.APPROVED,
            f"Approved by {user}.",
            source,
        )
        _enqueue_apply(endpoint)
    return endpoint


def reject_endpoint(
    endpoint: Endpoint, user: User, reason: str = "", source: str = AuditLog.Source.WEB
) -> Endpoint:
    message = f"Rejected by {user}" + (f": {reason}" if reason else ".")
    with transaction.atomic():
        return _decide(
            endpoint,
            user,
            "endpoint.reject",
            EndpointStatus.REJECTED,
            message,
            source,
            reason=reason,
        )


def _change(
    endpoint: Endpoint,
    user: User,
    action: str,
    message: str,
    source: str,
    changes: dict[str, Any],
    *,
    desired_state: str | None = None,
) -> Endpoint:
    """Shared path of every day-2 change: lock, check, write, bump generation, enqueue."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        if endpoint.desired_state == DesiredState.ABSENT or endpoint.status in (
            EndpointStatus.REJECTED,
            EndpointStatus.DELETED,
        ):
            raise InvalidTransition(
                f"This endpoint is {endpoint.get_status_display().lower()}; it cannot be changed."
            )
        before = snapshot(endpoint, AUDIT_FIELDS)
        old_gpu_type_id, old_cost = endpoint.gpu_type_id, endpoint.monthly_cost_max
        spec = {f: changes.get(f, getattr(endpoint, f)) for f in SPEC_FIELDS}
        if any(f in changes for f in ("model", "quantization", "max_context_length")):
            _validate_model_choice(spec["model"], spec["quantization"], spec["max_context_length"])
        if any(f in changes for f in SIZING_FIELDS):
            _check_sizing(spec)
        for field, value in changes.items():
            setattr(endpoint, field, value)
        if desired_state is not None:
            endpoint.desired_state = desired_state
        endpoint.full_clean(exclude=["requested_by", "offering", "approved_by"])
        if any(
            f in changes
            for f in ("gpu_type", "gpu_count", "max_replicas", "min_replicas", "capacity_type")
            + SCHEDULE_FIELDS
        ):
            estimate = estimate_request(endpoint.team, spec, exclude=endpoint)
            _raise_for_problems(estimate)
            reasons = _change_approval_reasons(endpoint, old_gpu_type_id, old_cost, spec, estimate)
            message = _approve_change(endpoint, user, reasons, message)
            endpoint.offering = estimate.offering.offering
            endpoint.monthly_cost_min = estimate.monthly_cost_min
            endpoint.monthly_cost_max = estimate.monthly_cost_max
        pending = endpoint.status == EndpointStatus.PENDING_APPROVAL
        # Not deployed (no cluster) stays so until an apply reaches a cluster: a change is
        # recorded once, not as Applying -> Not deployed with the same notice every time.
        waiting = endpoint.status == EndpointStatus.NOT_DEPLOYED and (
            desired_state in (None, DesiredState.PRESENT)
        )
        old = endpoint.status
        duration = None
        if not pending:
            endpoint.generation += 1
            if not waiting:
                old, duration = _set_status(endpoint, EndpointStatus.APPLYING, message)
        endpoint.save()
        add_event(
            endpoint,
            EventKind.ACTION,
            message,
            actor=user,
            old_status=old,
            new_status=endpoint.status if not (pending or waiting) else "",
            duration_seconds=duration,
        )
        record_audit(
            actor=user,
            action=action,
            instance=endpoint,
            source=source,
            before=before,
            after=snapshot(endpoint, AUDIT_FIELDS),
        )
        if not pending:
            _enqueue_apply(endpoint)
    return endpoint


def _approve_change(endpoint: Endpoint, user: User, reasons: list[str], message: str) -> str:
    """A change the approval rules flag is made only by an approver (team admin or platform
    staff), and its event says why it needed one; a pending request gets the new reasons."""
    if not reasons:
        return message
    if endpoint.status == EndpointStatus.PENDING_APPROVAL:
        endpoint.status_message = " ".join(reasons)
        return message
    if not can_admin(user, endpoint.team):
        raise ApprovalRequired(
            "This change needs approval: " + " ".join(reasons) + " Ask a team admin or the "
            "platform team to make it."
        )
    return f"{message} Approved as a team admin: {' '.join(reasons)}"


def scale_endpoint(
    endpoint: Endpoint,
    user: User,
    min_replicas: int,
    max_replicas: int,
    source: str = AuditLog.Source.WEB,
) -> Endpoint:
    for field, message in rules.replica_problems(min_replicas, max_replicas).items():
        raise DeploymentError(message, field=field)
    return _change(
        endpoint,
        user,
        "endpoint.scale",
        f"Scaled to {min_replicas}-{max_replicas} replicas by {user}.",
        source,
        {"min_replicas": min_replicas, "max_replicas": max_replicas},
    )


def update_endpoint(
    endpoint: Endpoint, user: User, changes: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Endpoint:
    changes = {k: v for k, v in changes.items() if k in SPEC_FIELDS and getattr(endpoint, k) != v}
    if not changes:
        return endpoint
    names = ", ".join(sorted(changes))
    return _change(
        endpoint, user, "endpoint.update", f"Changed {names} by {user}.", source, changes
    )


def set_spot_fallback(
    endpoint: Endpoint, user: User, allowed: bool, source: str = AuditLog.Source.ADMIN
) -> Endpoint:
    """Admin setting: let a spot endpoint run on on-demand nodes when no spot is left
    (preferred, not required, spot node affinity; billed on-demand meanwhile)."""
    if endpoint.capacity_type != CapacityType.SPOT:
        raise InvalidTransition("Only spot endpoints can fall back to on-demand capacity.")
    if endpoint.spot_fallback_on_demand == allowed:
        return endpoint
    verb = "Allowed" if allowed else "Stopped"
    return _change(
        endpoint,
        user,
        "endpoint.spot_fallback",
        f"{verb} on-demand fallback by {user}.",
        source,
        {"spot_fallback_on_demand": allowed},
    )


def stop_endpoint(endpoint: Endpoint, user: User, source: str = AuditLog.Source.WEB) -> Endpoint:
    if endpoint.desired_state == DesiredState.STOPPED:
        raise InvalidTransition("The endpoint is already stopped.")
    refuse_if_routed(endpoint, "stop")
    if endpoint.status == EndpointStatus.PENDING_APPROVAL:
        raise InvalidTransition("A pending request cannot be stopped; delete it instead.")
    return _change(
        endpoint,
        user,
        "endpoint.stop",
        f"Stopped by {user}.",
        source,
        {},
        desired_state=DesiredState.STOPPED,
    )


def start_endpoint(endpoint: Endpoint, user: User, source: str = AuditLog.Source.WEB) -> Endpoint:
    if endpoint.desired_state != DesiredState.STOPPED:
        raise InvalidTransition("Only a stopped endpoint can be started.")
    return _change(
        endpoint,
        user,
        "endpoint.start",
        f"Started by {user}.",
        source,
        {},
        desired_state=DesiredState.PRESENT,
    )


def delete_endpoint(endpoint: Endpoint, user: User, source: str = AuditLog.Source.WEB) -> Endpoint:
    """Mark absent and let the task remove the cluster objects; never-applied ones end at once."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        if endpoint.desired_state == DesiredState.ABSENT:
            return endpoint  # deleting twice is the same as deleting once
        refuse_if_routed(endpoint, "delete")
        before = snapshot(endpoint, AUDIT_FIELDS)
        endpoint.desired_state = DesiredState.ABSENT
        endpoint.generation += 1
        never_applied = endpoint.applied_generation == 0 and endpoint.status in (
            EndpointStatus.PENDING_APPROVAL,
            EndpointStatus.REJECTED,
        )
        target = EndpointStatus.DELETED if never_applied else EndpointStatus.DELETING
        old, duration = _set_status(endpoint, target, f"Deleted by {user}.")
        if never_applied:
            endpoint.deleted_at = timezone.now()
        endpoint.save()
        add_event(
            endpoint,
            EventKind.ACTION,
            f"Deleted by {user}.",
            actor=user,
            old_status=old,
            new_status=target,
            duration_seconds=duration,
        )
        record_audit(
            actor=user,
            action="endpoint.delete",
            instance=endpoint,
            source=source,
            before=before,
            after=snapshot(endpoint, AUDIT_FIELDS),
        )
        if not never_applied:
            _enqueue_apply(endpoint)
    return endpoint


def record_observed(
    endpoint_id: int,
    status: str,
    message: str = "",
    url: str | None = None,
    *,
    generation: int | None = None,
    kind: str = EventKind.STATUS,
    at: datetime | None = None,
    event: bool = True,
) -> bool:
    """Write what the cluster reports. Compare-and-set: True only if something changed.

    With `generation`, the write applies only while the endpoint is still at that generation,
    so a slow observer cannot overwrite a newer request's status.
    """
    with transaction.atomic():
        qs = Endpoint.objects.select_for_update().filter(pk=endpoint_id)
        if generation is not None:
            qs = qs.filter(generation=generation)
        endpoint = qs.first()
        if endpoint is None:
            return False
        new_url = endpoint.url if url is None else url
        if (endpoint.status, endpoint.status_message, endpoint.url) == (status, message, new_url):
            return False
        old, duration = endpoint.status, None
        fields = ["status_message", "url", "updated_at"]
        if status != endpoint.status:
            old, duration = _set_status(endpoint, status, message)
            fields += ["status", "status_changed_at", "ready_at"]
            if _is_cold_start(old, status, duration):
                endpoint.cold_start_seconds = duration
                fields.append("cold_start_seconds")
            if status == EndpointStatus.DELETED:
                endpoint.deleted_at = at or timezone.now()
                fields.append("deleted_at")
        endpoint.status_message = message
        endpoint.url = new_url
        endpoint.save(update_fields=fields)
        if event and (old != status or kind != EventKind.STATUS):
            add_event(
                endpoint,
                kind,
                message or endpoint.get_status_display(),
                old_status=old,
                new_status=status if old != status else "",
                duration_seconds=duration,
            )
    log.info("endpoint=%s observed status=%s message=%s", endpoint_id, status, message)
    return True


# Provisioning -> Ready that took at least this long was a replica started from nothing (a
# config-only change that needs no new pod is over within a sync or two).
COLD_START_MIN_SECONDS = 60


def _is_cold_start(old: str, new: str, duration: int | None) -> bool:
    return (
        old == EndpointStatus.PROVISIONING
        and new == EndpointStatus.READY
        and duration is not None
        and duration >= COLD_START_MIN_SECONDS
    )


def record_applied(
    endpoint: Endpoint, generation: int, status: str, message: str, kind: str = EventKind.STATUS
) -> bool:
    """An apply of `generation` landed: compare-and-set `applied_generation` and the status in
    one UPDATE, plus an event when the status changes (as record_observed would write).

    The UPDATE is the compare-and-set: it matches only while `generation` is current and not
    yet applied, so no row lock is held before it (deployments.reconcile pushes to the
    cluster with none). False, writing nothing, when a newer generation superseded this one
    or another run recorded it first.
    """
    old, duration = endpoint.status, None
    fields: dict[str, Any] = {"applied_generation": generation}
    changed = (endpoint.status, endpoint.status_message) != (status, message)
    if changed:
        if status != endpoint.status:
            old, duration = _set_status(endpoint, status, message)
            fields.update(
                status=status,
                status_changed_at=endpoint.status_changed_at,
                ready_at=endpoint.ready_at,
            )
            if status == EndpointStatus.DELETED:
                endpoint.deleted_at = timezone.now()
                fields["deleted_at"] = endpoint.deleted_at
        endpoint.status_message = message
        endpoint.updated_at = timezone.now()
        fields.update(status_message=message, updated_at=endpoint.updated_at)
    if not Endpoint.objects.filter(
        pk=endpoint.pk, generation=generation, applied_generation__lt=generation
    ).update(**fields):
        return False
    endpoint.applied_generation = generation
    if changed and (old != status or kind != EventKind.STATUS):
        add_event(
            endpoint,
            kind,
            message or endpoint.get_status_display(),
            old_status=old,
            new_status=status if old != status else "",
            duration_seconds=duration,
        )
    log.info(
        "endpoint=%s applied generation=%s status=%s message=%s",
        endpoint.pk,
        generation,
        status,
        message,
    )
    return True


@dataclass(frozen=True)
class SpotFallbackCost:
    """What the admin's on-demand fallback costs while a spot endpoint runs on on-demand."""

    spot_replica_hour: Decimal
    on_demand_replica_hour: Decimal

    @property
    def extra_replica_hour(self) -> Decimal:
        return self.on_demand_replica_hour - self.spot_replica_hour


def spot_fallback_cost(endpoint: Endpoint) -> SpotFallbackCost | None:
    """Spot vs on-demand price per replica-hour on the endpoint's offering (None when the
    endpoint is not a spot endpoint with the fallback, or a price is missing)."""
    if endpoint.capacity_type != CapacityType.SPOT or not endpoint.spot_fallback_on_demand:
        return None
    gpus = int(endpoint.gpu_count)
    per_gpu = {}
    for capacity in (CapacityType.SPOT, CapacityType.ON_DEMAND):
        prices = offering_prices(endpoint.gpu_type, capacity, min_gpus=gpus)
        same = [p for p in prices if p.offering.pk == endpoint.offering_id] or prices[:1]
        if not same:
            return None
        per_gpu[capacity] = same[0].per_gpu_hour
    return SpotFallbackCost(
        spot_replica_hour=(per_gpu[CapacityType.SPOT] * gpus).quantize(Decimal("0.01")),
        on_demand_replica_hour=(per_gpu[CapacityType.ON_DEMAND] * gpus).quantize(Decimal("0.01")),
    )


def approvers_for(endpoint: Endpoint) -> list[User]:
    """Who may approve `endpoint` (or a batch job): the team's admins and the platform staff,
    minus its requester (four eyes)."""
    users = User.objects.filter(is_active=True).filter(
        Q(is_staff=True) | Q(memberships__team=endpoint.team, memberships__role="admin")
    )
    if endpoint.requested_by_id:
        users = users.exclude(pk=endpoint.requested_by_id)
    return list(users.distinct().order_by("username"))


def decidable_by(qs, user: User):
    """The requests of `qs` (endpoints or batch jobs) this user may decide on: team admin or
    staff (the requester is refused at approval: four eyes)."""
    from portal.access import scope_to_user

    if not user.is_staff:
        qs = qs.filter(Q(team__memberships__user=user, team__memberships__role="admin"))
    return scope_to_user(qs, user).select_related("team", "model", "gpu_type", "requested_by")


def endpoint_monthly_cost(
    endpoint: Endpoint, month: datetime | None = None
) -> estimates.MonthlyCost | None:
    """The endpoint's cost in the calendar month of ``month`` (default: now) on its offering at
    the price in force, with its schedule and always on (None when the offering has no price)."""
    prices = offering_prices(endpoint.gpu_type, endpoint.capacity_type, int(endpoint.gpu_count))
    same = [p for p in prices if p.offering.pk == endpoint.offering_id] or prices[:1]
    if not same:
        return None
    spec = {f: getattr(endpoint, f) for f in SPEC_FIELDS}
    return estimates.monthly_cost(
        same[0], spec, month or pricing.this_month(), endpoint.cold_start_seconds
    )


def pending_approvals_for(user: User, approvable: bool = False):
    """Endpoints waiting for a decision this user may take (team admin or staff); with
    `approvable`, only those the user can approve: not their own requests (four eyes)."""
    qs = Endpoint.objects.filter(status=EndpointStatus.PENDING_APPROVAL)
    if approvable:
        qs = qs.exclude(requested_by=user)
    return decidable_by(qs, user)
