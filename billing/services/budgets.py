"""Budgets: month-to-date spend, the month-end forecast, 50/80/100% alerts (once per threshold
per month) and their e-mail / webhook notifications."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from catalog.pricing import to_cents
from portal import jobs, transport
from portal.audit import record_audit
from portal.models import Team
from portal.timeutil import HOUR, month_start, next_month

from ..models import BillingPolicy, BudgetAlert, IdlePolicy, UsageKind
from .statements import month_usage

log = logging.getLogger(__name__)

NOTIFY_BUDGET_ALERT = "billing.notify_budget_alert"


# --- budgets -------------------------------------------------------------------------------


def month_to_date_cost(team: Team, now: datetime | None = None) -> Decimal:
    """What the team has spent this month until ``now`` (see ``month_cost``)."""
    now = now or timezone.now()
    return month_cost(team, month_start(now), now)


def month_cost(
    team: Team, first: datetime, until: datetime, own: tuple[Decimal, int] | None = None
) -> Decimal:
    """What the team spent in the collected hours of ``[first, until)`` (one month, ``first``
    its first hour): its priced GPU time plus, when the platform shares idle capacity, its
    pro-rata part of the idle cost. ``own``: the (cost, GPU-seconds) of its allocated rows
    there, when the caller has read them already."""
    rows = month_usage(first, until=until)
    if own is None:
        summed = rows.filter(team=team, kind=UsageKind.ALLOCATED).aggregate(
            c=Sum("cost"), s=Sum("gpu_seconds")
        )
        own = (summed["c"] or Decimal("0"), summed["s"] or 0)
    cost, seconds = own
    if BillingPolicy.current().idle_policy == IdlePolicy.SHARED and seconds:
        idle = rows.filter(kind=UsageKind.IDLE).aggregate(c=Sum("cost"))["c"] or Decimal("0")
        total = rows.filter(kind=UsageKind.ALLOCATED).aggregate(s=Sum("gpu_seconds"))["s"]
        cost += idle * Decimal(seconds) / Decimal(total)
    return cost


def forecast_month_cost(
    team: Team,
    now: datetime | None = None,
    spent: Decimal | None = None,
    hourly: dict[datetime, Decimal] | None = None,
) -> Decimal:
    """Month-to-date cost plus the last 24 collected hours' run rate until the month ends.
    ``hourly``: the team's allocated cost per hour this month until ``now``, when the caller
    has read its rows already."""
    now = now or timezone.now()
    first = month_start(now)
    spent = month_to_date_cost(team, now) if spent is None else spent
    if hourly is None:
        rows = month_usage(first, team, until=now).filter(kind=UsageKind.ALLOCATED)
        last = rows.aggregate(h=Max("hour"))["h"]
    else:
        last = max(hourly, default=None)
    if last is None:
        return spent
    window_start = max(first, last + HOUR - timedelta(hours=24))
    if hourly is None:
        recent = rows.filter(hour__gte=window_start).aggregate(c=Sum("cost"))["c"]
    else:
        recent = sum((c for h, c in hourly.items() if h >= window_start), Decimal("0"))
    recent = recent or Decimal("0")
    rate = recent / Decimal(int((last + HOUR - window_start) / HOUR))
    remaining = Decimal(max(0, int((next_month(first) - (last + HOUR)) / HOUR)))
    return spent + rate * remaining


def check_budgets(now: datetime | None = None) -> list[BudgetAlert]:
    """Record a BudgetAlert for every 50/80/100% threshold a team has crossed this month.
    Each threshold alerts once per month (unique row); notifications go out on commit."""
    now = now or timezone.now()
    month = month_start(now).date()
    created = []
    for team in Team.objects.filter(monthly_budget__gt=0):
        spend = month_to_date_cost(team, now)
        for threshold in BudgetAlert.THRESHOLDS:
            if spend * 100 < team.monthly_budget * threshold:
                break
            alert = _create_alert(team, month, threshold, spend)
            if alert is not None:
                created.append(alert)
    return created


def _create_alert(team: Team, month: date, threshold: int, spend: Decimal) -> BudgetAlert | None:
    try:
        with transaction.atomic():
            alert = BudgetAlert.objects.create(
                team=team,
                month=month,
                threshold=threshold,
                spend=to_cents(spend),
                budget=team.monthly_budget,
            )
            record_audit(
                actor=None,
                action="billing.budget_alert",
                instance=alert,
                team=team,
                after={
                    "threshold": threshold,
                    "spend": str(alert.spend),
                    "budget": str(alert.budget),
                    "month": f"{month:%Y-%m}",
                },
            )
            jobs.enqueue_on_commit(NOTIFY_BUDGET_ALERT, alert.pk)
    except IntegrityError:
        return None  # already alerted for this threshold this month
    log.info(
        "billing: team %s crossed %s%% of its budget (%s of %s)",
        team.slug,
        threshold,
        spend,
        team.monthly_budget,
    )
    return alert


def notify_budget(alert_id: int) -> None:
    """E-mail and webhook for one alert; each is sent at most once (compare-and-set on *_sent_at)."""
    alert = BudgetAlert.objects.select_related("team").filter(pk=alert_id).first()
    if alert is None:
        return
    team = alert.team
    subject = (
        f"[ModelPort] {team.name} has used {alert.threshold}% of its {alert.month:%B} GPU budget"
    )
    body = (
        f"{team.name} has spent {alert.spend} {settings.BILLING_CURRENCY} of its monthly budget of "
        f"{alert.budget} {settings.BILLING_CURRENCY} in {alert.month:%B %Y}.\n"
    )
    errors, permanent = [], []
    if team.alert_email and _claim(alert, "email_sent_at"):
        try:
            transport.send_email(team.alert_email, subject, body)
        except transport.TransportError as exc:
            errors.append(f"e-mail: {exc}")
            BudgetAlert.objects.filter(pk=alert.pk).update(email_sent_at=None)
    if team.alert_webhook_url and _claim(alert, "webhook_sent_at"):
        payload = {
            "team": team.slug,
            "month": f"{alert.month:%Y-%m}",
            "threshold": alert.threshold,
            "spend": str(alert.spend),
            "budget": str(alert.budget),
            "currency": settings.BILLING_CURRENCY,
            "text": subject,
        }
        try:
            transport.post_webhook(team.alert_webhook_url, payload)
        except transport.PermanentError as exc:
            # A refused target (internal address, redirect, 4xx) is recorded, not retried.
            permanent.append(f"webhook: {exc}")
        except transport.TransientError as exc:
            errors.append(f"webhook: {exc}")
            BudgetAlert.objects.filter(pk=alert.pk).update(webhook_sent_at=None)
    if errors or permanent:
        text = "; ".join(errors + permanent)[:2000]
        BudgetAlert.objects.filter(pk=alert.pk).update(notify_error=text)
    if errors:
        raise NotificationFailed("; ".join(errors))


class NotificationFailed(Exception):
    """A budget notification could not be delivered (the task retries it)."""


def _claim(alert: BudgetAlert, field_name: str) -> bool:
    return (
        BudgetAlert.objects.filter(pk=alert.pk, **{f"{field_name}__isnull": True}).update(
            **{field_name: timezone.now()}
        )
        == 1
    )


def active_budget_alert(team: Team, now: datetime | None = None) -> BudgetAlert | None:
    """The highest threshold the team crossed this month (for the portal banner)."""
    month = month_start(now or timezone.now()).date()
    return BudgetAlert.objects.filter(team=team, month=month).order_by("-threshold").first()
