"""What an endpoint adds to the core admission (deployments.workloads.admission): the model
choice and the fit on the GPU (`validate_model_choice`, `check_sizing`, shared with batch jobs),
the team's GPU usage at max replicas (`team_usage`), the offering and monthly cost
(`estimate_request`, which then runs the core's quota, approval and budget rules over the facts
gathered once), the rules for a day-2 change (`change_approval_reasons`), the live estimate of
the forms (`check_request`) and the endpoint approval inbox (`pending_approvals_for`).
Refusals become typed errors with `core.raise_for_problems`; four eyes is `core.check_four_eyes`.
"""

import logging
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, Sum

from catalog import pricing
from catalog.choices import CapacityType
from catalog.models import CatalogModel, GpuType
from catalog.pricing import OfferingPrice, cheapest_offering
from deployments.endpoints import coldstart_plans, estimates, rules
from deployments.endpoints.choices import ACTIVE_STATUSES, EndpointStatus
from deployments.endpoints.models import Endpoint
from deployments.workloads import admission as core
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import DeploymentError
from portal.models import Team, User

log = logging.getLogger(__name__)


@dataclass
class Estimate(core.Admission):
    """The core verdict (quota, approval, budget) plus what the request would cost."""

    offering: OfferingPrice | None = None
    monthly_cost_min: Decimal | None = None
    monthly_cost_max: Decimal | None = None
    monthly: estimates.MonthlyCost | None = None  # the month's figures, schedule and always on


ENDPOINT_WORDING = core.Wording()


def team_usage(
    team: Team, gpu_type: GpuType, exclude: Endpoint | None = None, name: str | None = None
) -> dict:
    """One aggregate over the team's endpoints: GPUs in use (all and of `gpu_type`) at max
    replicas and the committed monthly cost of its live ones, and (with `name`) whether a
    non-deleted endpoint already has that name (and whether that one is still being deleted)."""
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
        aggregates["named_deleting"] = Count(
            "pk", filter=Q(name=name, status=EndpointStatus.DELETING)
        )
    usage = qs.aggregate(**aggregates)
    # Batch jobs hold GPUs too: GPUs per shard x parallel shards, and their estimated cost
    # (read through the team's reverse relation: batch jobs sit above endpoints).
    batch = team.batch_jobs.gpu_usage(team, gpu_type)
    return {
        "in_use": (usage["in_use"] or 0) + batch["in_use"],
        "type_in_use": (usage["type_in_use"] or 0) + batch["type_in_use"],
        "committed": (usage["committed"] or Decimal("0")) + batch["committed"],
        "name_taken": bool(usage.get("named")),
        # the name is held by an endpoint whose objects are still being removed
        "name_deleting": bool(usage.get("named_deleting")),
    }


def estimate_request(
    team: Team,
    spec: dict[str, Any],
    exclude: Endpoint | None = None,
    *,
    usage: dict | None = None,
    gpu_rules: tuple[int | None, bool] | None = None,
    commits: Decimal | None = None,
    wording: core.Wording = ENDPOINT_WORDING,
    month: datetime | None = None,
) -> Estimate:
    """Price, quota headroom and approval reasons for a spec (dict of SPEC_FIELDS values):
    the offering and the monthly cost, then the core's rules over the facts gathered once.

    `usage` (from team_usage) and `gpu_rules` (type quota, always approve) are read here
    unless the caller already has them, e.g. from the locked team row. `commits` replaces the
    monthly cost at max replicas in the approval and budget rules, e.g. a batch job's
    estimated total cost; `wording` says in the messages what is counted. Monthly costs are
    for the calendar month of ``month`` (default: now) with the spec's off-hours schedule
    (deployments.endpoints.estimates).
    """
    gpu_type: GpuType = spec["gpu_type"]
    gpu_count = int(spec.get("gpu_count") or 1)
    max_r = int(spec.get("max_replicas") or 1)
    capacity = spec.get("capacity_type") or CapacityType.ON_DEMAND
    offering = cheapest_offering(gpu_type, capacity, gpu_count)
    cost_min = cost_max = monthly = None
    no_offering = None
    if offering is None:
        no_offering = core.offering_refusal(capacity, gpu_count, gpu_type)
    else:
        # The pre-warm lead: the endpoint's planned cold start, a new one's from the model's
        # measured starts on this GPU (the estimate without history).
        measured = None
        if exclude is not None:
            measured = exclude.cold_start_seconds
        elif spec.get("schedule_enabled"):
            measured = coldstart_plans.measured_from_zero(spec)
        monthly = estimates.monthly_cost(offering, spec, month or pricing.this_month(), measured)
        cost_min, cost_max = monthly.minimum, monthly.maximum
    if usage is None:
        usage = team_usage(team, gpu_type, exclude=exclude)
    facts = core.gather(team, gpu_type, usage, gpu_rules)
    verdict = core.judge(
        facts, gpu_count * max_r, commits if commits is not None else cost_max, wording
    )
    estimate = Estimate(
        **{f.name: getattr(verdict, f.name) for f in fields(core.Admission)},
        offering=offering,
        monthly_cost_min=cost_min,
        monthly_cost_max=cost_max,
        monthly=monthly,
    )
    if no_offering is not None:
        estimate.refusals.insert(0, no_offering)
    return estimate


def change_approval_reasons(
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
    always = gpu_type.pk != old_gpu_type_id and core.team_rules(endpoint.team, gpu_type)[1]
    reasons = core.approval_reasons(
        endpoint.team, gpu_type, always, cost if raised else None, ENDPOINT_WORDING
    )
    if raised and estimate.budget_warning:
        reasons.append(estimate.budget_warning)
    return reasons


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
    fit check of a request, a change and the live estimate (deployments.workloads.sizing)."""
    from deployments.workloads.sizing import SizingInputError, check_spec_fits

    try:
        problem = check_spec_fits(spec)
    except SizingInputError as exc:
        return exc.field, exc.message
    if problem:
        return "gpu_count", problem
    heads = spec["model"].tensor_parallel_problem(int(spec.get("gpu_count") or 1))
    return ("gpu_count", heads) if heads else None


def check_sizing(spec: dict[str, Any]) -> None:
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
    sizing: (
        Any  # deployments.workloads.sizing.SizingResult, None until model, precision and context
    )
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
    from deployments.workloads.sizing import SizingInputError, size_for_spec

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
        reasons = change_approval_reasons(
            endpoint, endpoint.gpu_type_id, endpoint.monthly_cost_max, spec, estimate
        )
    return RequestCheck(estimate, sizing, problem, list(invalid or []), reasons)


def validate_model_choice(model: CatalogModel, quantization: str, context: int) -> None:
    for field, message in rules.model_choice_problems(model, quantization, context).items():
        raise DeploymentError(message, field=field)


def pending_approvals_for(user: User, approvable: bool = False):
    """Endpoints waiting for a decision this user may take (team admin or staff); with
    `approvable`, only those the user can approve: not their own requests (four eyes)."""
    qs = Endpoint.objects.filter(status=EndpointStatus.PENDING_APPROVAL)
    if approvable:
        qs = qs.exclude(requested_by=user)
    return core.decidable_by(qs, user).select_related("model", "gpu_type")
