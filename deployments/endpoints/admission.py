"""Admission: what a request needs before it is saved, for every product that holds GPUs
(endpoints, and batch jobs through the same functions): the model choice and the fit on the
GPU (`validate_model_choice`, `check_sizing`), the team's quota and usage (`team_usage`,
`with_rules`), the approval rules, the budget (fails closed when the spend is unknown) and
four eyes (`approvers_for`, `decidable_by`). `estimate_request` gathers the verdict the form,
the API, the estimate panel and the approval inbox all show; `raise_for_problems` turns it
into the typed error.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum

from catalog import pricing
from catalog.choices import CapacityType
from catalog.models import CatalogModel, GpuType
from catalog.pricing import OfferingPrice, cheapest_offering
from deployments.endpoints import coldstart_plans, estimates, rules
from deployments.endpoints.choices import ACTIVE_STATUSES, EndpointStatus
from deployments.endpoints.models import Endpoint
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import (
    BudgetExceeded,
    DeploymentError,
    QuotaExceeded,
    SpendUnknown,
)
from deployments.workloads.spend import projected_month_cost
from portal.models import Team, TeamGpuQuota, User
from portal.templatetags.portal import money

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Wording:
    """How a product's messages name what it asks for. An endpoint counts its GPUs and its
    monthly cost at max replicas; a batch job (deployments.batch.services) counts GPUs per
    shard x shards at once and its estimated total cost."""

    gpus: str = " at max replicas"  # after "Needs N GPUs" (the team quota)
    type_gpus: str = ""  # after "Needs N L4 GPUs" (the GPU type's quota)
    cost: str = "Monthly cost at max replicas"  # what the approval threshold is checked on
    subject: str = "this endpoint"  # "With this endpoint the team's projected cost ..."
    commitment: str = ""  # what the budget adds besides the live endpoints, e.g. " plus ..."
    # The cost is a one-off total (a batch job's), not a monthly rate: the budget adds it whole
    # instead of for the share of the month left (a job asked for on the month's last evening
    # costs the same).
    one_off: bool = False


ENDPOINT_WORDING = Wording()


def team_usage(
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
    # Batch jobs hold GPUs too: GPUs per shard x parallel shards, and their estimated cost
    # (read through the team's reverse relation: batch jobs sit above endpoints).
    batch = team.batch_jobs.gpu_usage(team, gpu_type)
    return {
        "in_use": (usage["in_use"] or 0) + batch["in_use"],
        "type_in_use": (usage["type_in_use"] or 0) + batch["type_in_use"],
        "committed": (usage["committed"] or Decimal("0")) + batch["committed"],
        "name_taken": bool(usage.get("named")),
    }


def with_rules(teams: QuerySet[Team], gpu_type: GpuType) -> QuerySet[Team]:
    """Annotate each team with its rules for `gpu_type`: `type_quota` (None: no per-type
    quota) and `always_approve` (that GPU type always needs approval)."""
    quota = TeamGpuQuota.objects.filter(team=OuterRef("pk"), gpu_type=gpu_type).order_by("pk")
    always = Team.approval_gpu_types.through.objects.filter(
        team_id=OuterRef("pk"), gputype_id=gpu_type.pk
    )
    return teams.annotate(
        type_quota=Subquery(quota.values("max_gpus")[:1]), always_approve=Exists(always)
    )


def team_rules(team: Team, gpu_type: GpuType) -> tuple[int | None, bool]:
    """One query: the team's quota for `gpu_type` and whether it always needs approval."""
    return (
        with_rules(Team.objects.filter(pk=team.pk), gpu_type)
        .values_list("type_quota", "always_approve")
        .get()
    )


def _quota_refusals(
    team: Team,
    gpu_type: GpuType,
    requested: int,
    usage: dict,
    type_quota: int | None,
    wording: Wording = ENDPOINT_WORDING,
) -> list[Refusal]:
    refusals = []
    in_use, type_in_use = usage["in_use"], usage["type_in_use"]
    if in_use + requested > team.max_gpus:
        refusals.append(
            Refusal(
                "quota",
                f"Needs {requested} GPUs{wording.gpus} but the team has "
                f"{max(team.max_gpus - in_use, 0)} of {team.max_gpus} left.",
            )
        )
    if type_quota is not None and type_in_use + requested > type_quota:
        refusals.append(
            Refusal(
                "quota",
                f"Needs {requested} {gpu_type.name} GPUs{wording.type_gpus} but the team has "
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
    wording: Wording = ENDPOINT_WORDING,
) -> list[str]:
    reasons = []
    if always_approve:
        reasons.append(f"{gpu_type.name} GPUs always need approval.")
    threshold = team.approval_cost_threshold
    if cost is not None and threshold is not None and cost > threshold:
        reasons.append(
            f"{wording.cost} ({money(cost)}) is above the approval threshold ({money(threshold)})."
        )
    return reasons


def _budget_verdict(
    team: Team, committed: Decimal, cost_max: Decimal | None, wording: Wording = ENDPOINT_WORDING
) -> Refusal | None:
    """Actual spend so far this month + every live endpoint at max replicas until the month
    ends + what this request commits, against the team's budget (None when within it)."""
    if cost_max is None or team.monthly_budget is None:
        return None
    try:
        if wording.one_off:
            spent, projected = projected_month_cost(team, committed)
            projected += cost_max
        else:
            spent, projected = projected_month_cost(team, committed + cost_max)
    except SpendUnknown as exc:  # fails closed: an unknown spend is never within the budget
        return Refusal("budget", exc.message)
    if projected <= team.monthly_budget:
        return None
    return Refusal(
        "budget",
        f"With {wording.subject} the team's projected cost this month ({money(projected)}: "
        f"{money(spent)} spent so far plus its endpoints at max replicas until the month "
        f"ends{wording.commitment}) would exceed its budget ({money(team.monthly_budget)}).",
    )


def estimate_request(
    team: Team,
    spec: dict[str, Any],
    exclude: Endpoint | None = None,
    *,
    usage: dict | None = None,
    gpu_rules: tuple[int | None, bool] | None = None,
    commits: Decimal | None = None,
    wording: Wording = ENDPOINT_WORDING,
    month: datetime | None = None,
) -> Estimate:
    """Price, quota headroom and approval reasons for a spec (dict of SPEC_FIELDS values).

    `usage` (from team_usage) and `gpu_rules` (type quota, always approve) are read here
    unless the caller already has them, e.g. from the locked team row. `commits` replaces the
    monthly cost at max replicas in the approval and budget rules, e.g. a batch job's
    estimated total cost; `wording` says in the messages what is counted. Monthly costs are
    for the calendar month of ``month`` (default: now) with the spec's off-hours schedule (deployments.endpoints.estimates).
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
        # The pre-warm lead: the endpoint's planned cold start, a new one's from the model's
        # measured starts on this GPU (the estimate without history).
        measured = None
        if exclude is not None:
            measured = exclude.cold_start_seconds
        elif spec.get("schedule_enabled"):
            measured = coldstart_plans.measured_from_zero(spec)
        monthly = estimates.monthly_cost(offering, spec, month or pricing.this_month(), measured)
        cost_min, cost_max = monthly.minimum, monthly.maximum
    requested = gpu_count * max_r
    if usage is None:
        usage = team_usage(team, gpu_type, exclude=exclude)
    type_quota, always_approve = gpu_rules if gpu_rules is not None else team_rules(team, gpu_type)
    refusals += _quota_refusals(team, gpu_type, requested, usage, type_quota, wording)
    cost = commits if commits is not None else cost_max
    reasons = _approval_reasons(team, gpu_type, always_approve, cost, wording)
    over_budget = _budget_verdict(team, usage["committed"], cost, wording)
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
    always = gpu_type.pk != old_gpu_type_id and team_rules(endpoint.team, gpu_type)[1]
    reasons = _approval_reasons(endpoint.team, gpu_type, always, cost if raised else None)
    if raised and estimate.budget_warning:
        reasons.append(estimate.budget_warning)
    return reasons


def raise_for_problems(estimate: Estimate) -> None:
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


def pending_approvals_for(user: User, approvable: bool = False):
    """Endpoints waiting for a decision this user may take (team admin or staff); with
    `approvable`, only those the user can approve: not their own requests (four eyes)."""
    qs = Endpoint.objects.filter(status=EndpointStatus.PENDING_APPROVAL)
    if approvable:
        qs = qs.exclude(requested_by=user)
    return decidable_by(qs, user)
