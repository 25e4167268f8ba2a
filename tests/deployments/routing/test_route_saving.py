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
from tests.factories import EndpointFactory, GpuRateFactory, InstanceOfferingFactory, TeamFactory
from tests.promdata import Load, Node, Pod, Scenario

from .conftest import make_route

HOUR = 3600


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
@pytest.mark.xfail(
    strict=True,
    reason="OPEN: window_summary reads ~5 % fewer tokens and requests than the generator "
    "emitted for these pods (e.g. 16.14M vs 17.00M tokens, 32334 vs 34059 requests over 3 h); "
    "not yet explained, see the route helper's report",
)
@pytest.mark.parametrize("small_rps,large_rps", [(3.0, 0.5), (1.0, 1.0)])
def test_saving_over_backfilled_traffic(prometheus_server, db, small_rps, large_rps):
    run = uuid.uuid4().hex[:6]
    team = TeamFactory(slug=f"rt{run}", name=f"Routes {run}")
    ns = team.namespace
    t0 = math.floor(time.time() / HOUR) * HOUR - 6 * HOUR  # every sample final, as in billing
    end = t0 + 3 * HOUR
    s = Scenario(start=t0, end=end, scrape_interval=30, seed=7)
    s.add_namespace(ns)
    for node in ("gpu-s", "gpu-l"):
        s.add_node(Node(f"{node}-{run}", instance_type="x", capacity_type="on-demand", gpus=4))
    for pod, isvc, node, gpus, rps, prompt in (
        ("chat-8b-predictor-a-1", "chat-8b", "gpu-s", 1, small_rps, 300),
        ("chat-70b-predictor-b-1", "chat-70b", "gpu-l", 4, large_rps, 2000),
    ):
        s.add_pod(
            Pod(
                pod,
                ns,
                node=f"{node}-{run}",
                gpus=gpus,
                start=t0 - 600,
                end=None,
                isvc=isvc,
                team=team.slug,
                load=Load(model_name=isvc, requests_per_s=rps, prompt_tokens_per_request=prompt),
            )
        )
    prometheus_server.backfill(s.openmetrics())

    small_offer = InstanceOfferingFactory(gpus_per_node=1)
    large_offer = InstanceOfferingFactory(gpus_per_node=4)
    GpuRateFactory(offering=small_offer, hourly_price=Decimal("1.2000"))
    GpuRateFactory(offering=large_offer, hourly_price=Decimal("20.0000"))
    small = EndpointFactory(
        team=team, name="chat-8b", offering=small_offer, gpu_type=small_offer.gpu_type, gpu_count=1
    )
    large = EndpointFactory(
        team=team, name="chat-70b", offering=large_offer, gpu_type=large_offer.gpu_type, gpu_count=4
    )
    route = make_route(team, "prompt_length", small=small, large=large)

    got = route_saving(
        route,
        PrometheusClient(prometheus_server.url),
        datetime.fromtimestamp(t0, UTC),
        datetime.fromtimestamp(end, UTC),
    )

    # Independently: the generator's own counts inside (t0, end], the prices above.
    def truth(pod):
        tr = s.truth[pod]
        return tr.prompt_tokens + tr.generation_tokens, tr.requests

    (s_tok, s_req), (l_tok, l_req) = truth("chat-8b-predictor-a-1"), truth("chat-70b-predictor-b-1")
    hours = Decimal(3 * HOUR + 1) / HOUR  # the window (t0 - 1, end] covers the pods' life
    small_cost, large_cost = Decimal("1.2") * hours, Decimal("20") * hours
    large_per_token = large_cost / l_tok
    large_alone = large_per_token * (s_tok + l_tok)
    by_role = {t.usage.role: t for t in got.tiers}
    assert by_role["small"].usage.tokens == pytest.approx(s_tok, rel=0.001)
    assert by_role["large"].usage.tokens == pytest.approx(l_tok, rel=0.001)
    assert by_role["small"].usage.requests == pytest.approx(s_req, rel=0.001)
    assert by_role["large"].usage.requests == pytest.approx(l_req, rel=0.001)
    assert got.cost == (small_cost + large_cost).quantize(Decimal("0.01"))
    assert float(got.large_alone) == pytest.approx(float(large_alone), rel=0.002)
    assert float(got.saving) == pytest.approx(
        float(large_alone - small_cost - large_cost), rel=0.002
    )
    want_pct = (large_alone - small_cost - large_cost) / large_alone * 100
    assert float(got.saving_percent) == pytest.approx(float(want_pct), abs=0.11)
    assert float(got.blended_per_million) == pytest.approx(
        float((small_cost + large_cost) / (s_tok + l_tok) * 1_000_000), rel=0.002
    )
