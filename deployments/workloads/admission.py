"""Admission for every product (endpoints, batch jobs, routes): gather the facts once, run
every rule over them, return one verdict (STYLE §3b).

1. `gather(team, gpu_type, usage)`: the facts a request is judged on, read once per request:
   the team's GPU usage and committed cost (the product's aggregate, `usage`), its quota and
   approval rules for the GPU type (one query, or from the locked team row), and the month's
   spend (the budget rule; a missing spend source is a refusal, never $0).
2. `judge(facts, requested_gpus, cost, wording)`: quota, approval and budget rules over the
   facts -> `Admission` (refusals, approval reasons, the figures the estimate panel shows).
3. `raise_for_problems(admission)` turns refusals into the typed error; `check_four_eyes`
   refuses a requester's own approval; `decidable_by` / `approvers_for` say who decides.

A product adds only its wording (`Wording`) and what it counts: an endpoint its GPUs and its
monthly cost at max replicas (deployments.endpoints.admission), a batch job GPUs per shard x
shards at once and its estimated total cost, a route no GPUs (four eyes only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from catalog.models import GpuType
from deployments.workloads.errors import (
    BudgetExceeded,
    DeploymentError,
    QuotaExceeded,
    SelfApproval,
    SpendUnknown,
)
from deployments.workloads.spend import month_to_date_spend, project_month
from portal.models import Team, TeamGpuQuota, User
from portal.templatetags.portal import money

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """Why a request cannot be made: `kind` picks the error raised, `message` is for people."""

    kind: str  # "offering", "quota" or "budget"
    message: str


@dataclass(frozen=True)
class Wording:
    """How a product's messages name what it asks for. An endpoint counts its GPUs and its
    monthly cost at max replicas; a batch job counts GPUs per shard x shards at once and its
    estimated total cost."""

    gpus: str = " at max replicas"  # after "Needs N GPUs" (the team quota)
    type_gpus: str = ""  # after "Needs N L4 GPUs" (the GPU type's quota)
    cost: str = "Monthly cost at max replicas"  # what the approval threshold is checked on
    subject: str = "this endpoint"  # "With this endpoint the team's projected cost ..."
    commitment: str = ""  # what the budget adds besides the live endpoints, e.g. " plus ..."
    # The cost is a one-off total (a batch job's), not a monthly rate: the budget adds it whole
    # instead of for the share of the month left (a job asked for on the month's last evening
    # costs the same).
    one_off: bool = False


@dataclass(frozen=True)
class Facts:
    """What the rules read, gathered once per request (`gather`)."""

    team: Team
    gpu_type: GpuType
    in_use: int  # GPUs the team's live workloads hold (or will hold)
    type_in_use: int  # of them, of `gpu_type`
    committed: Decimal  # the live workloads' monthly cost (endpoints) and estimates (jobs)
    type_quota: int | None  # None: no per-type quota
    always_approve: bool  # `gpu_type` always needs approval
    spent: Decimal | None  # this month's spend so far (None: no budget, or unknown)
    spend_unknown: str | None  # why the spend is unknown (no source registered): fails closed
    now: datetime


@dataclass
class Admission:
    """The verdict on a request: refusals, approval reasons and the quota figures."""

    gpus_requested: int
    gpus_in_use: int
    gpus_quota: int
    gpu_type_in_use: int
    gpu_type_quota: int | None
    approval_reasons: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    budget_warning: str | None = None  # over budget under the "warn" policy (in the reasons)

    @property
    def problems(self) -> list[str]:
        return [r.message for r in self.refusals]

    @property
    def gpus_headroom(self) -> int:
        return self.gpus_quota - self.gpus_in_use

    @property
    def needs_approval(self) -> bool:
        return bool(self.approval_reasons)


def offering_refusal(capacity: str, gpu_count: int, gpu_type: GpuType) -> Refusal:
    """No offering of the capacity type has the GPUs on one node with a price."""
    return Refusal(
        "offering",
        f"No {capacity} offering has {gpu_count} {gpu_type.name} GPU(s) on one node with a price.",
    )


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


def gather(
    team: Team,
    gpu_type: GpuType,
    usage: dict,
    gpu_rules: tuple[int | None, bool] | None = None,
    now: datetime | None = None,
) -> Facts:
    """The facts of one request. `usage`: the product's aggregate (`in_use`, `type_in_use`,
    `committed`); `gpu_rules` (type quota, always approve) unless read here; the month's spend
    only when the team has a budget (None when no spend source is registered)."""
    type_quota, always = gpu_rules if gpu_rules is not None else team_rules(team, gpu_type)
    now = now or timezone.now()
    spent = unknown = None
    if team.monthly_budget is not None:
        try:
            spent = month_to_date_spend(team, now)
        except SpendUnknown as exc:
            unknown = exc.message
    return Facts(
        team=team,
        gpu_type=gpu_type,
        in_use=int(usage["in_use"] or 0),
        type_in_use=int(usage["type_in_use"] or 0),
        committed=usage["committed"] or Decimal("0"),
        type_quota=type_quota,
        always_approve=bool(always),
        spent=spent,
        spend_unknown=unknown,
        now=now,
    )


def quota_refusals(facts: Facts, requested: int, wording: Wording) -> list[Refusal]:
    team, gpu_type, refusals = facts.team, facts.gpu_type, []
    if facts.in_use + requested > team.max_gpus:
        refusals.append(
            Refusal(
                "quota",
                f"Needs {requested} GPUs{wording.gpus} but the team has "
                f"{max(team.max_gpus - facts.in_use, 0)} of {team.max_gpus} left.",
            )
        )
    quota = facts.type_quota
    if quota is not None and facts.type_in_use + requested > quota:
        refusals.append(
            Refusal(
                "quota",
                f"Needs {requested} {gpu_type.name} GPUs{wording.type_gpus} but the team has "
                f"{max(quota - facts.type_in_use, 0)} of its {quota} {gpu_type.name} "
                "quota left.",
            )
        )
    return refusals


def approval_reasons(
    team: Team, gpu_type: GpuType, always_approve: bool, cost: Decimal | None, wording: Wording
) -> list[str]:
    """The team's approval rules: a GPU type that always needs approval, a cost above the
    team's approval threshold."""
    reasons = []
    if always_approve:
        reasons.append(f"{gpu_type.name} GPUs always need approval.")
    threshold = team.approval_cost_threshold
    if cost is not None and threshold is not None and cost > threshold:
        reasons.append(
            f"{wording.cost} ({money(cost)}) is above the approval threshold ({money(threshold)})."
        )
    return reasons


def budget_refusal(facts: Facts, cost: Decimal | None, wording: Wording) -> Refusal | None:
    """Actual spend so far this month + every live workload until the month ends + what this
    request commits, against the team's budget (None when within it). Fails closed: an
    unknown spend is never within the budget."""
    team = facts.team
    if cost is None or team.monthly_budget is None:
        return None
    if facts.spent is None:
        return Refusal("budget", facts.spend_unknown or "The team's spend this month is unknown.")
    if wording.one_off:
        projected = project_month(facts.spent, facts.committed, facts.now) + cost
    else:
        projected = project_month(facts.spent, facts.committed + cost, facts.now)
    if projected <= team.monthly_budget:
        return None
    return Refusal(
        "budget",
        f"With {wording.subject} the team's projected cost this month ({money(projected)}: "
        f"{money(facts.spent)} spent so far plus its endpoints at max replicas until the month "
        f"ends{wording.commitment}) would exceed its budget ({money(team.monthly_budget)}).",
    )


def judge(facts: Facts, requested: int, cost: Decimal | None, wording: Wording) -> Admission:
    """Every rule over the facts: quota (refused), approval (reasons), budget (refused, or a
    reason under the team's "warn" policy)."""
    refusals = quota_refusals(facts, requested, wording)
    reasons = approval_reasons(facts.team, facts.gpu_type, facts.always_approve, cost, wording)
    warning = None
    over_budget = budget_refusal(facts, cost, wording)
    if over_budget is not None:
        if facts.team.over_budget_policy == Team.OverBudgetPolicy.REFUSE:
            refusals.append(over_budget)
        else:
            reasons.append(over_budget.message)
            warning = over_budget.message
    return Admission(
        gpus_requested=requested,
        gpus_in_use=facts.in_use,
        gpus_quota=facts.team.max_gpus,
        gpu_type_in_use=facts.type_in_use,
        gpu_type_quota=facts.type_quota,
        approval_reasons=reasons,
        refusals=refusals,
        budget_warning=warning,
    )


def raise_for_problems(admission: Admission) -> None:
    """Raise the error of the first refusal (offering, then quota, then budget) with every
    refusal's message."""
    if not admission.refusals:
        return
    message = " ".join(admission.problems)
    kinds = {r.kind for r in admission.refusals}
    if "offering" in kinds:
        raise DeploymentError(message, field="gpu_type")
    if "quota" in kinds:
        raise QuotaExceeded(message, field="max_replicas")
    raise BudgetExceeded(message)


# --- who decides: four eyes ---------------------------------------------------------------


def check_four_eyes(workload, user: User, noun: str) -> None:
    """The requester of a workload never approves it (staff included)."""
    if workload.requested_by_id == user.pk:
        raise SelfApproval(
            f"You requested this {noun}; another team admin or the platform team must "
            "approve it (four eyes)."
        )


def approvers_for(workload) -> list[User]:
    """Who may approve `workload`: the team's admins and the platform staff, minus its
    requester (four eyes)."""
    users = User.objects.filter(is_active=True).filter(
        Q(is_staff=True) | Q(memberships__team=workload.team, memberships__role="admin")
    )
    if workload.requested_by_id:
        users = users.exclude(pk=workload.requested_by_id)
    return list(users.distinct().order_by("username"))


def decidable_by(qs, user: User):
    """The requests of `qs` (any product) this user may decide on: team admin or staff (the
    requester is refused at approval: four eyes)."""
    from portal.access import scope_to_user

    if not user.is_staff:
        qs = qs.filter(Q(team__memberships__user=user, team__memberships__role="admin"))
    return scope_to_user(qs, user).select_related("team", "requested_by")
