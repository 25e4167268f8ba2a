"""The monthly tiering statement: which routes and windows belong to a month (pure), and the
figures over backfilled vLLM series on a real Prometheus, answered here from the scenario's own
counts and the prices in the database."""

import math
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.services.tiering import as_rows, month_routes, month_window, team_tiering
from deployments.routing.models import Route
from portal.prometheus import PrometheusClient
from portal.timeutil import month_start
from tests.deployments.routing.conftest import backfill_two_tiers, make_route, priced_tiers
from tests.factories import EndpointFactory, TeamFactory

HOUR = 3600
CENT = Decimal("0.01")
MARCH = datetime(2026, 3, 1, tzinfo=UTC)


def _route(team, created, deleted=None, applied=1, name="chat"):
    small = EndpointFactory(team=team, name=f"{name}-s")
    large = EndpointFactory(team=team, name=f"{name}-l")
    route = make_route(team, "complexity", name=name, small=small, large=large)
    Route.objects.filter(pk=route.pk).update(
        created_at=created, deleted_at=deleted, applied_generation=applied
    )
    route.refresh_from_db()
    return route


def test_month_window_clips_to_the_month_the_route_life_and_now(team):
    r = _route(team, created=datetime(2026, 2, 10, tzinfo=UTC))
    now = datetime(2026, 3, 20, 6, tzinfo=UTC)
    assert month_window(r, MARCH, now) == (MARCH, now)
    assert month_window(r, datetime(2026, 2, 1, tzinfo=UTC), now) == (
        datetime(2026, 2, 10, tzinfo=UTC),
        MARCH,
    )
    late = _route(team, created=datetime(2026, 3, 5, tzinfo=UTC), name="late")
    gone = datetime(2026, 3, 7, tzinfo=UTC)
    Route.objects.filter(pk=late.pk).update(deleted_at=gone)
    late.refresh_from_db()
    assert month_window(late, MARCH, now) == (datetime(2026, 3, 5, tzinfo=UTC), gone)
    assert month_window(late, datetime(2026, 4, 1, tzinfo=UTC), now) is None


def test_the_month_holds_applied_routes_that_lived_in_it(team):
    live = _route(team, created=datetime(2026, 2, 1, tzinfo=UTC), name="live")
    _route(team, created=datetime(2026, 2, 1, tzinfo=UTC), applied=0, name="never")
    _route(team, created=datetime(2026, 4, 2, tzinfo=UTC), name="later")
    _route(
        team,
        created=datetime(2026, 1, 1, tzinfo=UTC),
        deleted=datetime(2026, 2, 27, tzinfo=UTC),
        name="before",
    )
    assert list(month_routes(team, MARCH)) == [live]


@pytest.mark.prometheus
@pytest.mark.parametrize("small_rps,large_rps", [(4.0, 0.5), (0.5, 2.0)])
def test_statement_over_backfilled_traffic(prometheus_server, db, small_rps, large_rps):
    run = uuid.uuid4().hex[:6]
    team = TeamFactory(slug=f"ts{run}", name=f"Tiering {run}")
    t0 = math.floor(time.time() / HOUR) * HOUR - 6 * HOUR  # every sample final
    end = t0 + 3 * HOUR
    s = backfill_two_tiers(prometheus_server, team, t0, end, small_rps, large_rps)
    small, large = priced_tiers(team)
    route = make_route(team, "complexity", small=small, large=large)
    created = datetime.fromtimestamp(t0, UTC)
    Route.objects.filter(pk=route.pk).update(created_at=created, applied_generation=1)
    end_dt = datetime.fromtimestamp(end, UTC)
    month = month_start(end_dt)

    [line] = team_tiering(team, month, end_dt, PrometheusClient(prometheus_server.url))

    # Independently: the window is the route's life inside the month of `end`, up to `end`
    # (t0 may fall in the previous month when this runs just after midnight on the 1st).
    start = max(t0, int(month.timestamp()))
    assert (line.start, line.end) == (datetime.fromtimestamp(start, UTC), end_dt)
    hours = Decimal(end - start) / HOUR
    s_req, s_p, s_g = s.truth["chat-8b-predictor-a-1"].counted_in(start, end)
    l_req, l_p, l_g = s.truth["chat-70b-predictor-b-1"].counted_in(start, end)
    s_tok, l_tok = s_p + s_g, l_p + l_g
    small_cost, large_cost = Decimal("1.2") * hours, Decimal("20") * hours  # $/h x hours
    actual = small_cost + large_cost
    large_alone = large_cost / l_tok * (s_tok + l_tok)
    saving = large_alone - actual

    [row] = as_rows([line])
    tiers = {t["role"]: t for t in row["tiers"]}
    assert (tiers["small"]["requests"], tiers["small"]["tokens"]) == (s_req, s_tok)
    assert (tiers["large"]["requests"], tiers["large"]["tokens"]) == (l_req, l_tok)
    assert (row["requests"], row["tokens"]) == (s_req + l_req, s_tok + l_tok)
    assert abs(tiers["large"]["cost"] - large_cost) <= CENT
    assert abs(row["cost"] - actual) <= CENT
    assert abs(row["blended_per_million"] - actual / (s_tok + l_tok) * 1_000_000) <= CENT
    assert abs(row["large_alone"] - large_alone) <= CENT
    assert abs(row["saving"] - saving) <= CENT
    assert abs(row["saving_percent"] - saving / large_alone * 100) <= Decimal("0.05")
    assert (row["saving"] > 0) == (saving > 0)


def test_a_route_created_after_now_gives_no_line(team):
    now = datetime(2026, 3, 3, tzinfo=UTC)
    _route(team, created=now + timedelta(hours=1))
    assert team_tiering(team, MARCH, now, client=None) == []
