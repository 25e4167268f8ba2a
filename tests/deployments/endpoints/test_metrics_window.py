"""The contract's window figures against a real Prometheus with backfilled scenarios.

Expected values come from the generator's inputs (tests/metrics_scenarios.expected), not from
PromQL: steady load, a burst with queueing, old vLLM names, an OOM-killed pod, a replica scaled
to zero, a scrape gap, and both DCGM label styles with a Prometheus outage.
"""

import pytest

from deployments.endpoints import metrics
from portal.prometheus import PrometheusClient
from tests.metrics_scenarios import CONTRACT, close, expected

pytestmark = pytest.mark.prometheus

CASES = ["steady", "burst", "oldnames", "oom", "scaled", "gap", "idle", "steady-honor", "oom-honor"]


@pytest.fixture(scope="module")
def summaries(backfilled_metrics):
    data = backfilled_metrics
    client = PrometheusClient(data["url"], timeout=30)
    keys = [(ns, model) for ns, model, _, _ in data["cases"].values()]
    return metrics.window_summary(client, keys, data["start"], data["end"])


@pytest.mark.parametrize("case", CASES)
def test_every_contract_number_is_within_two_percent(backfilled_metrics, summaries, case):
    ns, model, pods, scenario = backfilled_metrics["cases"][case]
    want = expected(scenario, pods, backfilled_metrics["start"], backfilled_metrics["end"])
    got = summaries[(ns, model)]
    wrong = {k: (got[k], want[k]) for k in CONTRACT if not close(got[k], want[k])}
    assert not wrong, wrong


def test_burst_shows_queueing_and_errors(summaries, backfilled_metrics):
    burst = summaries[backfilled_metrics["cases"]["burst"][:2]]
    steady = summaries[backfilled_metrics["cases"]["steady"][:2]]
    assert burst["queue_depth_max"] == 25
    assert burst["error_rate"] > 3 * steady["error_rate"]


def test_counters_of_a_partial_window_match_the_raw_samples(backfilled_metrics):
    """A window that cuts through the OOM restarts: the increase from the stored samples."""
    ns, model, pods, scenario = backfilled_metrics["cases"]["oom"]
    start, end = scenario.start + 50 * 60 + 13, scenario.start + 140 * 60 + 2
    want = 0.0
    for s in scenario.find("vllm:generation_tokens_total"):
        if s.labels["pod"] not in pods:
            continue
        prev = next((v for t, v in reversed(s.samples) if t <= start), 0.0)
        for t, v in s.samples:
            if start < t <= end:
                want += v if v < prev else v - prev
                prev = v
    client = PrometheusClient(backfilled_metrics["url"], timeout=30)
    got = metrics.window_summary(client, [(ns, model)], start, end)[(ns, model)]
    assert got["generation_tokens_per_s"] == pytest.approx(want / (end - start), rel=1e-9)


def test_an_endpoint_without_data_gets_none_not_zero(backfilled_metrics):
    client = PrometheusClient(backfilled_metrics["url"], timeout=30)
    got = metrics.window_summary(
        client, [("mp-nobody", "ghost")], backfilled_metrics["start"], backfilled_metrics["end"]
    )[("mp-nobody", "ghost")]
    assert all(got[k] is None for k in CONTRACT)
