"""GPU time from the samples themselves (portal/gputime.py): unit rules, then
backfilled scenarios on a real Prometheus at 15 s, 60 s and mixed intervals with jitter, a
missed scrape, a stopped series and a Prometheus restart. The exact answers come from the
scenario inputs (pod and node lifetimes × GPUs × prices, tests/billing/scenarios.expected),
never from the code under test."""

import io
import json
import random
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command

from portal.gputime import GAP_CAP_INTERVALS, integrate, sample_spans
from tests.promdata import Node, Pod, Scenario

from .scenarios import HOUR, MIN, PriceEntry, aligned_start, expected, iso, save_price_table

pytestmark = pytest.mark.dates


def test_each_sample_spans_to_the_next_one_and_the_last_one_the_median_interval():
    samples = [(0, 1), (15, 1), (31, 1), (44, 1), (74, 1)]  # jitter and one missed scrape
    assert sample_spans(samples, 15.0) == [15, 16, 13, 30, 15.0]


def test_a_gap_longer_than_the_cap_is_not_filled():
    samples = [(0, 1), (60, 1), (60 + GAP_CAP_INTERVALS * 60 + 1, 1)]
    assert sample_spans(samples, 60.0) == [60, 60.0, 60.0]


def test_integrate_counts_a_span_in_the_window_of_its_sample_and_splits_at_cuts():
    series = [
        ({"k": "a"}, [(t, 2.0) for t in range(0, 7200, 30)]),  # 2 GPUs, 30 s, two windows
        ({"k": "b"}, [(3590.0, 1.0)]),  # one sample: spans the other series' median (30 s)
    ]
    out, upto = integrate(series, lambda labels: labels["k"], [0, 3600, 7200], [[900], []])
    assert out[0] == {"a": 7200.0, "b": 30.0} and out[1] == {"a": 7200.0}
    assert upto[0] == [{"a": 1800.0}]


# --- backfilled scenarios on a real Prometheus -----------------------------------------------

REL = 0.001


def _prices() -> list[PriceEntry]:
    return [
        PriceEntry("g6.12xlarge", "on-demand", 4, [(0, Decimal("4.60"))]),
        PriceEntry("g6e.xlarge", "spot", 1, [(0, Decimal("0.93"))]),
    ]


def _cluster(t0: float, run: str, cluster: str, interval: float, team: str, gaps=()) -> Scenario:
    """Two nodes, a long pod, a pod deleted mid-way (its series stops) and a late one."""
    end = t0 + 6 * HOUR
    s = Scenario(
        t0,
        end,
        scrape_interval=interval,
        seed=7,
        gaps=gaps,
        cluster_labels={"test_run": run, "cluster": cluster},
    )
    ns = s.add_namespace(f"ns-{team}", {"modelport.io/team": team})
    s.add_node(
        Node(f"{cluster}-big", instance_type="g6.12xlarge", capacity_type="on-demand", gpus=4)
    )
    s.add_node(Node(f"{cluster}-spot", instance_type="g6e.xlarge", capacity_type="spot", gpus=1))
    s.add_pod(Pod(f"{team}-long", ns, node=f"{cluster}-big", gpus=2, start=t0, team=team))
    s.add_pod(
        Pod(
            f"{team}-gone",
            ns,
            node=f"{cluster}-big",
            gpus=1,
            start=t0 + 20 * MIN,
            end=t0 + 3 * HOUR,
            team=team,
        )
    )
    s.add_pod(
        Pod(f"{team}-late", ns, node=f"{cluster}-spot", gpus=1, start=t0 + 2 * HOUR, team=team)
    )
    return s


def _jitter_and_miss(s: Scenario, seconds: float, missed: float | None) -> None:
    """Shift every scrape of the scenario by the same ±``seconds`` (one target, one jitter per
    scrape) and drop the scrape at ``missed``. The first and last scrape keep their time."""
    rng = random.Random(5)
    shift: dict[float, float] = {}
    for series in s.series:
        kept = []
        for t, v in series.samples:
            if missed is not None and abs(t - missed) < 0.5:
                continue
            if t not in shift:
                edge = t < s.start + 1 or t > s.end - 2 * s.scrape_interval
                shift[t] = 0.0 if edge else round(rng.uniform(-seconds, seconds), 3)
            kept.append((round(t + shift[t], 3), v))
        series.samples = kept


def _chargeback(start: float, end: float) -> dict:
    out = io.StringIO()
    call_command("chargeback", "--start", iso(start), "--end", iso(end), "--json", stdout=out)
    return json.loads(out.getvalue())


def _check(data: dict, scenarios: list[Scenario], prices, t0: float) -> dict:
    teams_got = {t["team"]: t for t in data["teams"]}
    figures = {}
    idle_want = 0.0
    for s in scenarios:
        teams = {p.name: p.labels.get("modelport.io/team") or p.team for p in s.pods.values()}
        want = expected(s, teams, prices, t0, t0 + 6 * HOUR)
        idle_want += want["idle"]["gpu_seconds"]
        for team, exp in want["teams"].items():
            got = teams_got[team]
            figures[team] = (got["gpu_hours"], exp["gpu_seconds"] / HOUR)
            assert got["gpu_hours"] == pytest.approx(exp["gpu_seconds"] / HOUR, rel=REL), team
            assert Decimal(got["cost"]) == pytest.approx(exp["cost"], rel=Decimal(REL)), team
    figures["idle"] = (data["idle"]["gpu_hours"], idle_want / HOUR)
    assert data["idle"]["gpu_hours"] == pytest.approx(idle_want / HOUR, rel=REL)
    return figures


@pytest.mark.prometheus
@pytest.mark.django_db
@pytest.mark.parametrize(
    "intervals",
    [(15.0,), (60.0,), (15.0, 60.0), (30.0, 120.0)],
    ids=["15s", "60s", "mixed-15s-60s", "mixed-30s-2min"],
)
def test_gpu_time_is_exact_whatever_the_scrape_interval(settings, prometheus_server, intervals):
    t0 = aligned_start(hours_back=8)
    run = uuid.uuid4().hex[:10]
    scenarios = []
    for n, interval in enumerate(intervals):
        restart = [(t0 + 4 * HOUR + 10 * MIN, t0 + 4 * HOUR + 10 * MIN + 3 * interval)]
        s = _cluster(t0, run, f"c{n}", interval, f"team{n}", gaps=restart)
        missed = t0 + HOUR + 30 * MIN + interval  # one scrape lost mid-hour
        _jitter_and_miss(s, seconds=min(3.0, interval / 5), missed=missed)
        prometheus_server.backfill(s.openmetrics())
        scenarios.append(s)
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.BILLING_PROMQL_SELECTOR = f'test_run="{run}"'
    prices = _prices()
    save_price_table(prices)
    figures = _check(_chargeback(t0, t0 + 6 * HOUR), scenarios, prices, t0)
    print(intervals, {k: (round(g, 4), round(w, 4)) for k, (g, w) in figures.items()})
