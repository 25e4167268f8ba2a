"""The hour so far: a team's GPU time since the last whole hour, measured live.

Collection stores whole hours only (``collect_gpu_usage``, hourly), so for up to an hour the
team's costs would say "No GPU time recorded" although Prometheus already has the GPU time.
This measures ``[start of this hour, now)`` the same way (``measure_usage``), stores nothing,
and is shown as such: not yet collected, and not part of any total.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from portal.prometheus import PrometheusError
from portal.timeutil import floor_hour

from ...models import UsageKind
from ._base import ChargebackError
from .collect import measure_usage

log = logging.getLogger(__name__)
MIN_SECONDS = 60  # less than a minute into the hour: nothing worth showing yet


@dataclass(frozen=True)
class HourSoFar:
    start: datetime
    end: datetime
    gpu_seconds: int
    cost: Decimal


def team_hour_so_far(team, now: datetime, client=None) -> HourSoFar | None:
    """The team's allocated GPU time and cost in ``[floor_hour(now), now)``; None without a
    Prometheus, in the first minute of the hour, or when Prometheus cannot answer (the page
    then shows what is recorded, as it always did)."""
    start = floor_hour(now)
    if (client is None and not settings.PROMETHEUS_URL) or (
        now - start
    ).total_seconds() < MIN_SECONDS:
        return None
    try:
        rows = measure_usage(start, now, client=client)
    except (ChargebackError, PrometheusError, OSError) as exc:
        log.info("team=%s hour so far not measured: %s", team.slug, exc)
        return None
    mine = [r for r in rows if r.team_key == team.slug and r.kind == UsageKind.ALLOCATED]
    return HourSoFar(
        start=start,
        end=now,
        gpu_seconds=sum(r.gpu_seconds for r in mine),
        cost=sum((r.cost for r in mine), Decimal("0")),
    )
