"""The monthly tiering statement of a team: per route, requests and tokens per tier, the blended
cost per 1M tokens, what the same traffic would have cost on the large tier alone, and the
saving in money and percent.

One method for the route page and the month (deployments/routing/saving.py, from the per-tier
vLLM counters, priced with the rate in force); this module only chooses the month's window per
route and which routes belong to the month:

* the routes of the team that were applied (``applied_generation > 0``), created before the
  month ends and not deleted before it starts;
* window = (max(month start, route created), min(month end, route deleted, now)]; a route whose
  window is empty is left out.

Measured live from Prometheus when asked (the statement's frozen GPU lines are billing's; the
tiering lines are counters read for the statement's month, within Prometheus' retention).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from catalog.pricing import to_cents
from deployments.endpoints import dashboards
from deployments.routing.models import Route
from deployments.routing.saving import Saving, route_saving
from portal.models import Team
from portal.prometheus import PrometheusClient
from portal.timeutil import month_start, next_month


@dataclass(frozen=True)
class RouteTiering:
    route: Route
    start: datetime
    end: datetime
    saving: Saving

    @property
    def hours(self) -> Decimal:
        return (Decimal((self.end - self.start).total_seconds()) / 3600).quantize(Decimal("0.01"))


def month_window(route: Route, month: datetime, now: datetime) -> tuple[datetime, datetime] | None:
    first, last = month_start(month), next_month(month)
    start = max(first, route.created_at)
    end = min(last, now, route.deleted_at or last)
    return (start, end) if end > start else None


def month_routes(team: Team, month: datetime):
    first, last = month_start(month), next_month(month)
    return (
        Route.objects.filter(team=team, applied_generation__gt=0, created_at__lt=last)
        .exclude(deleted_at__lt=first)
        .select_related("team")
        .order_by("name", "pk")
    )


def team_tiering(
    team: Team, month: datetime, now: datetime, client: PrometheusClient
) -> list[RouteTiering]:
    """The month's tiering lines of the team (raises PrometheusError when it cannot read)."""
    lines = []
    for route in month_routes(team, month):
        window = month_window(route, month, now)
        if window is None:
            continue
        lines.append(RouteTiering(route, *window, route_saving(route, client, *window)))
    return lines


def as_rows(lines: list[RouteTiering]) -> list[dict]:
    """Plain rows (API and CSV): one per route, its tiers nested; money as Decimal or None."""
    rows = []
    for line in lines:
        s = line.saving
        rows.append(
            {
                "route": line.route.name,
                "route_uuid": str(line.route.uuid),
                "policy": line.route.policy,
                "start": line.start,
                "end": line.end,
                "requests": s.requests,
                "tokens": s.tokens,
                "cost": s.cost,
                "blended_per_million": s.blended_per_million,
                "large_alone": s.large_alone,
                "saving": s.saving,
                "saving_percent": s.saving_percent,
                "tiers": [
                    {
                        "role": t.usage.role,
                        "endpoint": t.usage.endpoint,
                        "requests": t.usage.requests,
                        "tokens": t.usage.tokens,
                        "cost": None if t.cost is None else to_cents(t.cost),
                        "per_million": None if t.per_million is None else to_cents(t.per_million),
                    }
                    for t in s.tiers
                ],
            }
        )
    return rows


def tiering_page(team: Team, month: datetime, now: datetime) -> dashboards.PageData:
    """The month's lines for a page, the CSV or the API: the last good figures (marked stale)
    when Prometheus fails, the setup state when it is not configured."""

    def compute(client):
        return {"lines": team_tiering(team, month, now, client)}

    return dashboards.with_last_good(f"tiering:{team.pk}:{month:%Y-%m}", compute)
