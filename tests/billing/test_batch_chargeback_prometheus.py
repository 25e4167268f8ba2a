"""Batch GPU-hours on the team bill, against the real Prometheus with backfilled
kube-state-metrics: the shard pods carry the labels the rendered Job gives them
(deployments.batch.manifests.labels), billing attributes them to a line of their own at the
node's real capacity type price, and the statement and its CSV show that line. The expected
figures are computed here from the scenario's pod lifetimes and prices (scenarios._cost)."""

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import UsageKind, UsageRecord
from billing.services import close_month, collect_gpu_usage
from deployments.batch import manifests
from portal.timeutil import month_start, next_month
from tests.factories import BatchJobFactory, EndpointFactory
from tests.promdata import Node, Pod, Scenario

from .scenarios import HOUR, MIN, PriceEntry, _cost, aligned_start, save_price_table

pytestmark = [pytest.mark.dates, pytest.mark.prometheus, pytest.mark.django_db]

PRICES = [
    PriceEntry("g6e.xlarge", "spot", 1, [(0, Decimal("0.7400"))]),
    PriceEntry("g6e.xlarge", "on-demand", 1, [(0, Decimal("1.8610"))]),
    PriceEntry("g6.12xlarge", "spot", 4, [(0, Decimal("1.9000"))]),
]


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def _scenario(t0: float, team, job, endpoint) -> tuple[Scenario, list[Pod]]:
    """Three hours: the batch job `chat` (same name as the team's endpoint `chat`) runs shard
    pods on a 1-GPU spot node and a 4-GPU spot node, one attempt reclaimed and retried; the
    endpoint `chat` runs on an on-demand node."""
    run = job.uuid.hex[:10]
    s = Scenario(t0, t0 + 3 * HOUR, scrape_interval=60, seed=7, cluster_labels={"test_run": run})
    s.add_namespace(team.namespace, {"modelport.io/team": team.slug})
    s.add_node(Node("spot-1", instance_type="g6e.xlarge", capacity_type="spot", gpus=1))
    s.add_node(Node("spot-4", instance_type="g6.12xlarge", capacity_type="spot", gpus=4))
    s.add_node(Node("od-1", instance_type="g6e.xlarge", capacity_type="on-demand", gpus=1))
    labels = manifests.labels(job)  # what every shard pod of the rendered Job carries
    shards = [
        # (pod, node, GPUs, start, end): shard 0's first attempt is reclaimed after 40 min.
        (f"{job.job_name}-0-a", "spot-1", 1, t0 + 10 * MIN, t0 + 50 * MIN),
        (f"{job.job_name}-0-b", "spot-4", 2, t0 + 55 * MIN, t0 + 2 * HOUR + 25 * MIN),
        (f"{job.job_name}-1-a", "spot-4", 2, t0 + 10 * MIN, t0 + 1 * HOUR + 40 * MIN),
    ]
    pods = [
        s.add_pod(Pod(name, team.namespace, node=node, gpus=gpus, start=a, end=b, labels=labels))
        for name, node, gpus, a, b in shards
    ]
    s.add_pod(
        Pod(
            "chat-predictor-0",
            team.namespace,
            node="od-1",
            gpus=1,
            start=t0,
            end=t0 + 3 * HOUR,
            team=team.slug,
            endpoint=endpoint.name,
            labels={"modelport.io/endpoint-uuid": str(endpoint.uuid)},
        )
    )
    return s, pods


def _expected(s: Scenario, pods: list[Pod]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """{(instance type, capacity type): (GPU-seconds, cost)} of the batch pods, from inputs."""
    table = {(p.instance_type, p.capacity_type): p for p in PRICES}
    out: dict = defaultdict(lambda: [0, Decimal("0")])
    for pod in pods:
        node = s.nodes[pod.node]
        offering = (node.instance_type, node.capacity_type)
        out[offering][0] += pod.gpus * int(pod.end - pod.start)
        out[offering][1] += _cost(table[offering], pod.gpus, pod.start, pod.end)[0]
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_batch_gpu_hours_are_their_own_lines_on_the_bill(
    settings, prometheus_server, team, member_client
):
    t0 = aligned_start(hours_back=5)
    end_month = month_start(_dt(t0 + 3 * HOUR))
    if end_month != month_start(_dt(t0)):  # keep the three hours inside one month
        t0 = end_month.timestamp() - 3 * HOUR
    endpoint = EndpointFactory(team=team, name="chat")
    job = BatchJobFactory(team=team, name="chat", run=2)
    scenario, pods = _scenario(t0, team, job, endpoint)
    prometheus_server.backfill(scenario.openmetrics())
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.BILLING_PROMQL_SELECTOR = f'test_run="{scenario.cluster_labels["test_run"]}"'
    save_price_table(PRICES)

    collect_gpu_usage(_dt(scenario.start), _dt(scenario.end))
    again = collect_gpu_usage(_dt(scenario.start), _dt(scenario.end))
    assert again.deleted == 0  # a re-run rewrites the same rows

    rows = UsageRecord.objects.filter(kind=UsageKind.ALLOCATED, team=team)
    batch = defaultdict(lambda: [0, Decimal("0")])
    for row in rows.filter(endpoint_key="batch/chat"):
        assert row.batch_job_id == job.pk and row.endpoint_id is None
        batch[(row.instance_type, row.capacity_type)][0] += row.gpu_seconds
        batch[(row.instance_type, row.capacity_type)][1] += row.cost
    want = _expected(scenario, pods)
    # 1 GPU x 40 min on g6e.xlarge spot; 2 GPUs x (90 + 90) min on g6.12xlarge spot.
    assert want[("g6e.xlarge", "spot")][0] == 40 * MIN
    assert want[("g6.12xlarge", "spot")][0] == 2 * 180 * MIN
    assert set(batch) == set(want) == {("g6e.xlarge", "spot"), ("g6.12xlarge", "spot")}
    for offering, (seconds, cost) in want.items():
        assert batch[offering][0] == seconds, offering
        assert batch[offering][1] == pytest.approx(cost, abs=Decimal("0.000002")), offering
    endpoint_rows = rows.filter(endpoint_key="chat")
    assert {r.endpoint_id for r in endpoint_rows} == {endpoint.pk}
    assert {r.batch_job_id for r in endpoint_rows} == {None}
    assert sum(r.gpu_seconds for r in endpoint_rows) == 3 * HOUR

    first = month_start(_dt(t0))
    _, statements = close_month(first, now=next_month(first))
    statement = next(s for s in statements if s.team_id == team.pk)
    lines = {
        (line["endpoint"], line["capacity_type"], line["instance_type"]): line
        for line in statement.lines
    }
    spot_small = lines[("batch/chat", "spot", "g6e.xlarge")]
    assert spot_small["workload"] == "batch" and spot_small["gpu_seconds"] == 40 * MIN
    assert Decimal(spot_small["cost"]) == pytest.approx(
        want[("g6e.xlarge", "spot")][1], abs=Decimal("0.000002")
    )
    assert lines[("chat", "on-demand", "g6e.xlarge")]["workload"] == "endpoint"

    page = member_client.get(reverse("billing:statement_detail", args=[statement.uuid]))
    assert "batch job" in page.content.decode()
    answer = member_client.get(reverse("billing:statement_csv", args=[statement.uuid]))
    table = list(csv.reader(io.StringIO(answer.content.decode())))
    header = table[0]
    batch_csv = [
        dict(zip(header, r, strict=False)) for r in table[1:] if r and r[1] == "batch/chat"
    ]
    assert {r["workload"] for r in batch_csv} == {"batch"}
    assert sorted(r["gpu_hours"] for r in batch_csv) == ["0.666667", "6.000000"]
