"""One definition of GPU-hours held: the idle tile of the team metrics page and the statement
agree on the same backfilled data, at a 15 s and at a 60 s scrape interval (real Prometheus).

Before portal.gputime, the tile multiplied its sample count by BILLING_SCRAPE_INTERVAL_SECONDS
(30 s by default): half the statement's figure at 15 s, twice it at 60 s."""

import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from deployments.endpoints import dashboards, promql
from portal.prometheus import PrometheusClient
from tests.promdata import Node, Pod, Scenario

from .scenarios import HOUR, MIN, PriceEntry, aligned_start, iso, save_price_table

pytestmark = pytest.mark.dates


def _scenario(t0: float, run: str, interval: float) -> tuple[Scenario, str]:
    """One node, an endpoint ``chat`` with a long pod (2 GPUs) and a pod deleted mid-way."""
    ns = f"ns-{run}"
    s = Scenario(
        t0, t0 + 6 * HOUR, scrape_interval=interval, seed=3, cluster_labels={"test_run": run}
    )
    s.add_namespace(ns, {"modelport.io/team": f"team-{run}"})
    s.add_node(Node(f"n-{run}", instance_type="g6.12xlarge", capacity_type="on-demand", gpus=4))
    common = {"node": f"n-{run}", "team": f"team-{run}", "endpoint": "chat", "load": None}
    s.add_pod(Pod("chat-predictor-5f6d-aaaaa", ns, gpus=2, start=t0, **common))
    s.add_pod(
        Pod(
            "chat-predictor-5f6d-bbbbb",
            ns,
            gpus=1,
            start=t0 + 25 * MIN,
            end=t0 + 3 * HOUR + 10 * MIN,
            **common,
        )
    )
    return s, ns


@pytest.mark.prometheus
@pytest.mark.django_db
@pytest.mark.parametrize("interval", [15.0, 60.0], ids=["15s", "60s"])
def test_idle_tile_and_statement_agree_on_gpu_hours(settings, prometheus_server, interval):
    t0 = aligned_start(hours_back=8)
    run = uuid.uuid4().hex[:10]
    s, ns = _scenario(t0, run, interval)
    prometheus_server.backfill(s.openmetrics())
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.BILLING_PROMQL_SELECTOR = f'test_run="{run}"'
    save_price_table([PriceEntry("g6.12xlarge", "on-demand", 4, [(0, Decimal("4.60"))])])

    out = io.StringIO()
    call_command(
        "chargeback", "--start", iso(t0), "--end", iso(t0 + 6 * HOUR), "--json", stdout=out
    )
    [team] = [t for t in json.loads(out.getvalue())["teams"] if t["team"] == f"team-{run}"]

    window = promql.WINDOWS["6h"]
    now = datetime.fromtimestamp(t0 + 6 * HOUR, tz=UTC)
    client = PrometheusClient(prometheus_server.url, timeout=30, cache_seconds=0)
    page = dashboards.overview_page([(ns, "chat")], window, now)(client)
    tile = page["rows"][f"{ns}/chat"]
    assert (page["start"], page["end"]) == (t0, t0 + 6 * HOUR)

    truth = (2 * 6 * HOUR + 1 * (2 * HOUR + 45 * MIN)) / HOUR  # from the scenario's inputs
    assert team["gpu_hours"] == pytest.approx(truth, rel=0.001)
    assert tile["gpu_hours"] == pytest.approx(team["gpu_hours"], rel=1e-6)
    assert tile["idle"] is True  # GPUs held, no tokens generated
