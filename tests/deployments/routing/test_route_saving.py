"""The measured saving: backfilled vLLM series on a real Prometheus, answers computed here from
the scenario's inputs (tokens and requests it generated) and the rates in the database."""

import math
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from deployments.routing.saving import TierUsage, compute_saving, route_saving
from portal.prometheus import PrometheusClient
from tests.factories import TeamFactory

from .conftest import backfill_two_tiers, make_route, priced_tiers

HOUR = 3600
CENT = Decimal("0.01")


def test_compute_saving_by_hand():
    # small: 1 GPU at $1/h, large: 4 GPUs at $4/h each, 10 hours.
    usages = [
        TierUsage("small", "s", requests=900, tokens=9_000_000, hourly_price=Decimal("1")),
        TierUsage("large", "l", requests=100, tokens=1_000_000, hourly_price=Decimal("16")),
    ]
    s = compute_saving(usages, Decimal(10))
    assert s.cost == Decimal("170.00")  # 10 + 160
    assert s.blended_per_million == Decimal("17.00")  # 170 / 10M tokens
    assert s.tiers[1].per_million == Decimal(160)  # 160 / 1M
    assert s.large_alone == Decimal("1600.00")  # 10M x 160/M
    assert s.saving == Decimal("1430.00") and s.saving_percent == Decimal("89.4")
    assert [t.request_share for t in s.tiers] == [Decimal("90.0"), Decimal("10.0")]


def test_no_price_or_no_large_traffic_gives_no_saving():
    usages = [
        TierUsage("small", "s", requests=1, tokens=10, hourly_price=Decimal("1")),
        TierUsage("large", "l", requests=0, tokens=0, hourly_price=Decimal("4")),
    ]
    s = compute_saving(usages, Decimal(1))
    assert s.large_alone is None and s.saving is None and s.cost == Decimal("5.00")
    unpriced = [TierUsage("small", "s", 1, 10, None), TierUsage("large", "l", 1, 10, Decimal(1))]
    assert compute_saving(unpriced, Decimal(1)).cost is None


@pytest.mark.prometheus
@pytest.mark.parametrize("small_rps,large_rps", [(3.0, 0.5), (1.0, 1.0)])
def test_saving_over_backfilled_traffic(prometheus_server, db, small_rps, large_rps):
    run = uuid.uuid4().hex[:6]
    team = TeamFactory(slug=f"rt{run}", name=f"Routes {run}")
    t0 = math.floor(time.time() / HOUR) * HOUR - 6 * HOUR  # every sample final, as in billing
    end = t0 + 3 * HOUR
    s = backfill_two_tiers(prometheus_server, team, t0, end, small_rps, large_rps)
    small, large = priced_tiers(team)
    route = make_route(team, "prompt_length", small=small, large=large)

    got = route_saving(
        route,
        PrometheusClient(prometheus_server.url),
        datetime.fromtimestamp(t0, UTC),
        datetime.fromtimestamp(end, UTC),
    )

    # Independently: what the generator counted inside (t0, end] (the pods started 10 min
    # before t0, so their first sample at t0 already holds 600 s of traffic that belongs before
    # the window: the "5 % gap" was the old truth counting the pods' whole life), the prices.
    def truth(pod):
        requests, prompt, generated = s.truth[pod].counted_in(t0, end)
        return prompt + generated, requests

    (s_tok, s_req), (l_tok, l_req) = truth("chat-8b-predictor-a-1"), truth("chat-70b-predictor-b-1")
    assert s.truth["chat-8b-predictor-a-1"].requests > s_req  # the pre-window part is real
    hours = Decimal(3)  # the window (t0, end]
    small_cost, large_cost = Decimal("1.2") * hours, Decimal("20") * hours
    large_per_token = large_cost / l_tok
    large_alone = large_per_token * (s_tok + l_tok)
    by_role = {t.usage.role: t for t in got.tiers}
    # Exact: counters are read without extrapolation, so tokens and requests match to the unit;
    # money to the cent (both sides round once), percent to its one decimal.
    assert (by_role["small"].usage.tokens, by_role["small"].usage.requests) == (s_tok, s_req)
    assert (by_role["large"].usage.tokens, by_role["large"].usage.requests) == (l_tok, l_req)
    assert got.cost == (small_cost + large_cost).quantize(CENT)
    assert abs(got.large_alone - large_alone) <= CENT
    assert abs(got.saving - (large_alone - small_cost - large_cost)) <= CENT
    want_pct = (large_alone - small_cost - large_cost) / large_alone * 100
    assert abs(got.saving_percent - want_pct) <= Decimal("0.05")
    want_blended = (small_cost + large_cost) / (s_tok + l_tok) * 1_000_000
    assert abs(got.blended_per_million - want_blended) <= CENT
