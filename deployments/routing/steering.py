"""Budgets that steer routing: when a team's month-to-date spend passes ``steer_at_percent``
of its monthly budget, a complexity route sends medium requests to the small tier until the
month ends; at the next month it goes back (and steers again if the new month's spend passes
the mark too).

``decide`` is pure (the rule, on plain values); ``steer_routes`` is the periodic step: it reads
the spend once per team (``deployments.workloads.spend``, which billing feeds), and for each route whose
wanted state differs from the stored one it saves the change with a new generation, audits it
and queues the apply, exactly like any other change of a route. Run twice, the second run finds
nothing to change. ``now`` is the one clock seam (the task passes the wall clock, tests a
fixed instant).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.pricing import to_cents
from deployments.routing.choices import RouteStatus
from deployments.routing.models import Route, RoutePolicy
from deployments.routing.services import enqueue_apply
from deployments.workloads.choices import DesiredState
from deployments.workloads.spend import month_to_date_spend
from portal.audit import record_audit
from portal.models import AuditLog
from portal.timeutil import month_start, next_month

log = logging.getLogger(__name__)
GONE = (RouteStatus.DELETED, RouteStatus.DELETING, RouteStatus.REJECTED)


@dataclass(frozen=True)
class Verdict:
    medium_to_small: bool
    reason: str


def _money(value: Decimal) -> str:
    return f"{to_cents(value):,}"


def decide(
    *,
    percent: int | None,
    budget: Decimal | None,
    spent: Decimal,
    steered: bool,
    steered_since: datetime | None,
    now: datetime,
    currency: str = "",
) -> Verdict:
    """Should medium requests go to the small tier now, and why (shown on the route page)."""
    unit = f" {currency}" if currency else ""
    this_month = month_start(now)
    if steered and steered_since is not None and steered_since >= this_month:
        return Verdict(True, "")  # sticky until the month ends: keep the stored reason
    if percent is None or not budget:
        if steered:
            return Verdict(False, "Budget steering is off: medium requests go back to large.")
        return Verdict(False, "")
    mark = budget * percent / 100
    if spent > mark:
        until = next_month(now).date().isoformat()
        return Verdict(
            True,
            f"Month-to-date spend {_money(spent)}{unit} passed {percent} % of the "
            f"{_money(budget)}{unit} budget ({_money(mark)}{unit}) on "
            f"{now.date().isoformat()}; medium requests go to the small tier until {until}.",
        )
    if steered:
        return Verdict(
            False,
            f"New month ({this_month.date().isoformat()}): spend {_money(spent)}{unit} is "
            f"under {percent} % of the budget; medium requests go back to the large tier.",
        )
    return Verdict(False, "")


def candidates():
    """Live complexity routes with a steering rule, or steered (to be put back)."""
    return (
        Route.objects.filter(policy=RoutePolicy.COMPLEXITY, desired_state=DesiredState.PRESENT)
        .exclude(status__in=GONE)
        .exclude(status=RouteStatus.PENDING_APPROVAL)
        .filter(Q(steer_at_percent__isnull=False) | Q(medium_to_small=True))
        .select_related("team")
        .order_by("pk")
    )


def steer_routes(now: datetime | None = None, currency: str = "") -> list[Route]:
    """One pass over the candidates; returns the routes changed (and re-applied)."""
    now = now or timezone.now()
    spend: dict[int, Decimal] = {}
    changed = []
    for route in candidates():
        team = route.team
        if team.pk not in spend:
            spend[team.pk] = month_to_date_spend(team, now)
        verdict = decide(
            percent=route.steer_at_percent,
            budget=team.monthly_budget,
            spent=spend[team.pk],
            steered=route.medium_to_small,
            steered_since=route.steered_since,
            now=now,
            currency=currency,
        )
        if verdict.medium_to_small != route.medium_to_small:
            changed.append(_apply(route, verdict, now))
        elif verdict.medium_to_small and verdict.reason:
            # steered last month and past the mark again: same rules, this month's reason
            Route.objects.filter(pk=route.pk, medium_to_small=True).update(
                steered_since=now, steering_reason=verdict.reason
            )
    return changed


def _apply(route: Route, verdict: Verdict, now: datetime) -> Route:
    with transaction.atomic():
        route = Route.objects.select_for_update().select_related("team").get(pk=route.pk)
        if route.medium_to_small == verdict.medium_to_small:
            return route  # another run got here first
        before = {"medium_to_small": route.medium_to_small}
        route.medium_to_small = verdict.medium_to_small
        route.steered_since = now if verdict.medium_to_small else None
        route.steering_reason = verdict.reason
        route.generation += 1
        route.status_message = "Budget steering changed the rules; applying."
        route.save(
            update_fields=[
                "medium_to_small",
                "steered_since",
                "steering_reason",
                "generation",
                "status_message",
                "updated_at",
            ]
        )
        record_audit(
            actor=None,
            action="route.steer",
            instance=route,
            source=AuditLog.Source.SYSTEM,
            before=before,
            after={"medium_to_small": route.medium_to_small, "reason": verdict.reason},
        )
        enqueue_apply(route)
    log.info("route %s steered: %s", route, verdict.reason)
    return route
