"""The advisor's use cases: a team's (or one endpoint's) suggestions and dismissing one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from catalog import pricing
from portal.models import Team, User
from portal.timeutil import month_hours

from ...models import ReferencePrice
from . import dismissals, facts, rules
from .rules import BreakEven, Suggestion


class AdvisorError(ValueError):
    """A dismissal names a suggestion the advisor does not make (now)."""


@dataclass
class TeamAdvice:
    team: Team
    start: datetime
    end: datetime
    currency: str
    suggestions: list[Suggestion]  # shown, largest saving first
    dismissed: list[Suggestion]  # hidden by a dismissal
    break_even: BreakEven | None
    reference: ReferencePrice | None
    memory_measured: bool
    hours: int
    month_hours: int = 0  # savings are per this many hours: the calendar month's

    @property
    def total_monthly_saving(self) -> Decimal:
        """The best shown suggestion of each endpoint, added up. Suggestions for one endpoint
        do not add up (a smaller GPU changes what a schedule saves), and the hosted-API one
        replaces the GPUs altogether, so it is left out."""
        best: dict[int, Decimal] = {}
        for s in self.suggestions:
            if s.endpoint is not None:
                best[s.endpoint.pk] = max(best.get(s.endpoint.pk, rules.ZERO), s.monthly_saving)
        return sum(best.values(), rules.ZERO)

    def for_endpoint(self, endpoint) -> TeamAdvice:
        return replace(
            self,
            suggestions=[s for s in self.suggestions if s.endpoint == endpoint],
            dismissed=[s for s in self.dismissed if s.endpoint == endpoint],
        )


def endpoint_suggestions(
    usage: rules.EndpointUsage, prices: rules.PriceBook, zone: str
) -> list[Suggestion]:
    sized, best = rules.right_size(usage, prices)
    found = [
        rules.off_hours(usage, zone),
        rules.spot(usage, prices),
        sized,
        rules.fp8(usage, prices, beat=best),
    ]
    return [s for s in found if s is not None]


def all_suggestions(
    team: Team, now: datetime
) -> tuple[facts.TeamFacts, list[Suggestion], BreakEven | None]:
    known = facts.gather(team, now)
    prices = facts.price_book()
    out: list[Suggestion] = []
    for usage in known.endpoints:
        out += endpoint_suggestions(usage, prices, settings.TIME_ZONE)
    reference = ReferencePrice.objects.filter(is_default=True).first()
    view = rules.break_even(
        known.cost, known.prompt_tokens, known.generation_tokens, reference, known.month_factor
    )
    api = rules.api_suggestion(view)
    if api is not None:
        out.append(api)
    return known, out, view


def team_advice(team: Team, now: datetime) -> TeamAdvice:
    """Every suggestion for the team's live endpoints and the team, from the usage rows of
    the LOOKBACK before ``now``; dismissed ones apart."""
    known, found, view = all_suggestions(team, now)
    hidden = dismissals.dismissals_of(team)
    shown, dismissed = [], []
    for s in sorted(found, key=lambda s: (-s.monthly_saving, s.kind)):
        d = hidden.get(s.key)
        if d is not None and dismissals.hides(d, s.monthly_saving, now):
            dismissed.append(replace(s, dismissal=d))
        else:
            shown.append(s)
    return TeamAdvice(
        team=team,
        start=known.start,
        end=known.end,
        currency=settings.BILLING_CURRENCY,
        suggestions=shown,
        dismissed=dismissed,
        break_even=view,
        reference=view.reference
        if view
        else ReferencePrice.objects.filter(is_default=True).first(),
        memory_measured=known.memory_measured,
        hours=known.hours,
        month_hours=month_hours(pricing.this_month()),
    )


def dismiss_suggestion(team: Team, user: User, kind: str, endpoint, now: datetime):
    """Hide the suggestion ``kind`` of ``endpoint`` (None: the team's) at its current saving.
    Raises AdvisorError when the advisor does not make that suggestion now."""
    _, found, _ = all_suggestions(team, now)
    key = (endpoint.pk if endpoint is not None else None, kind)
    match = next((s for s in found if s.key == key), None)
    if match is None:
        where = f"endpoint {endpoint.name}" if endpoint is not None else "the team"
        raise AdvisorError(f"There is no {kind!r} suggestion for {where} to dismiss.")
    return dismissals.record_dismissal(team, endpoint, kind, match.monthly_saving, user, now)
