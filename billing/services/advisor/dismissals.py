"""Dismissed suggestions: who said "not now" to which one, and when it comes back.

A dismissed suggestion stays hidden for DISMISSAL_DAYS, or until its monthly saving moves by
more than MATERIAL_CHANGE of the saving it showed when it was dismissed (either way: a
different saving means the usage or the prices changed, so the team should look again).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from ...advisor_models import SavingsDismissal

DISMISSAL_DAYS = 90
MATERIAL_CHANGE = Decimal("0.25")


def hides(dismissal: SavingsDismissal, saving: Decimal, now: datetime) -> bool:
    if now >= dismissal.dismissed_at + timedelta(days=DISMISSAL_DAYS):
        return False
    base = dismissal.monthly_saving
    return abs(saving - base) <= base * MATERIAL_CHANGE


def dismissals_of(team) -> dict[tuple[int | None, str], SavingsDismissal]:
    return {
        (d.endpoint_id, d.kind): d
        for d in SavingsDismissal.objects.filter(team=team).select_related("dismissed_by")
    }


def record_dismissal(team, endpoint, kind: str, saving: Decimal, user, now: datetime):
    dismissal, _ = SavingsDismissal.objects.update_or_create(
        team=team,
        endpoint=endpoint,
        kind=kind,
        defaults={"monthly_saving": saving, "dismissed_by": user, "dismissed_at": now},
    )
    return dismissal
