"""Chargeback scenarios for the real Prometheus, with their exact answers computed from the
scenario's inputs (pod and node lifetimes, GPUs, prices) – never from PromQL.

`expected()` is deliberately written differently from billing.services: it walks each pod's
running interval, clips it to the period and splits it at price changes with interval
arithmetic, instead of summing samples.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tests.promdata import Load, Node, Pod, Scenario

HOUR = 3600
MIN = 60


@dataclass
class PriceEntry:
    instance_type: str
    capacity_type: str
    gpus_per_node: int
    history: list  # [(effective_from unix seconds, node hourly price Decimal)]

    def price_at(self, t: float) -> Decimal | None:
        price = None
        for since, value in sorted(self.history):
            if since <= t:
                price = value
        return price


def aligned_start(hours_back: int = 6) -> float:
    """An hour boundary far enough in the past that every sample is final."""
    return math.floor(time.time() / HOUR) * HOUR - hours_back * HOUR


def mixed_scenario(
    t0: float, run: str | None = None, hours: int = 4
) -> tuple[Scenario, dict, list[PriceEntry]]:
    """Everything the issue lists, on a 60 s scrape grid starting at the hour ``t0``.

    Returns (scenario, {pod name: expected team key}, price table). The g6.12xlarge on-demand
    price changes at t0 + 2h20m (mid-hour); x9.mystery has no price.
    """
    run = run or uuid.uuid4().hex[:10]
    end = t0 + hours * HOUR
    s = Scenario(t0, end, scrape_interval=60, seed=11, cluster_labels={"test_run": run})
    s.add_namespace("ns-a", {"modelport.io/team": "alpha"})
    s.add_namespace("ns-b", {"modelport.io/team": "beta"})
    s.add_namespace("team-c")  # no team label anywhere: the namespace name is the team
    s.add_namespace("ns-d", {"modelport.io/team": "delta"})
    s.add_node(
        Node("n-spot-1", instance_type="g6e.xlarge", capacity_type="spot", gpus=1, gpu="L40S")
    )
    s.add_node(
        Node("n-od-4", instance_type="g6.12xlarge", capacity_type="on-demand", gpus=4, gpu="L4")
    )
    s.add_node(
        Node(
            "n-od-1",
            instance_type="g6e.xlarge",
            capacity_type="on-demand",
            gpus=1,
            gpu="L40S",
            start=t0 + HOUR,
            end=t0 + 3 * HOUR,
        )
    )
    s.add_node(
        Node("n-mystery", instance_type="x9.mystery", capacity_type="on-demand", gpus=2, gpu="H100")
    )
    teams = {}
    # Pending for 5 minutes, starts mid-hour, restarts (OOMKilled), ends mid-hour.
    s.add_pod(
        Pod(
            "llama-a-1",
            "ns-a",
            node="n-spot-1",
            gpus=1,
            created=t0 + 5 * MIN,
            start=t0 + 10 * MIN,
            end=t0 + 2 * HOUR + 50 * MIN,
            team="alpha",
            endpoint="llama",
            isvc="llama",
            restarts=[(t0 + 90 * MIN, "OOMKilled")],
            load=Load("llama", requests_per_s=2.0),
        )
    )
    teams["llama-a-1"] = "alpha"
    # Second replica on on-demand for two hours.
    s.add_pod(
        Pod(
            "llama-a-2",
            "ns-a",
            node="n-od-1",
            gpus=1,
            start=t0 + HOUR,
            end=t0 + 3 * HOUR,
            team="alpha",
            endpoint="llama",
            isvc="llama",
            load=Load("llama", requests_per_s=1.0),
        )
    )
    teams["llama-a-2"] = "alpha"
    # Multi-GPU pod with only the namespace team label, the whole period, across the price change.
    s.add_pod(
        Pod(
            "mistral-b-1",
            "ns-b",
            node="n-od-4",
            gpus=2,
            start=t0,
            isvc="mistral",
            load=Load("mistral", requests_per_s=0.5),
        )
    )
    teams["mistral-b-1"] = "beta"
    # A 2-minute pod.
    s.add_pod(
        Pod("batch-b-2", "ns-b", node="n-od-4", gpus=1, start=t0 + 75 * MIN, end=t0 + 77 * MIN)
    )
    teams["batch-b-2"] = "beta"
    # No team label on pod or namespace.
    s.add_pod(
        Pod(
            "qwen-c-1",
            "team-c",
            node="n-od-4",
            gpus=1,
            start=t0 + 30 * MIN,
            end=t0 + 3 * HOUR,
            isvc="qwen",
            load=Load("qwen", requests_per_s=1.0),
        )
    )
    teams["qwen-c-1"] = "team-c"
    # Unknown instance type: measured, reported, not priced.
    s.add_pod(
        Pod(
            "big-d-1",
            "ns-d",
            node="n-mystery",
            gpus=2,
            start=t0 + HOUR,
            team="delta",
            endpoint="big",
        )
    )
    teams["big-d-1"] = "delta"
    prices = [
        PriceEntry("g6e.xlarge", "spot", 1, [(0, Decimal("0.7400"))]),
        PriceEntry("g6e.xlarge", "on-demand", 1, [(0, Decimal("1.8610"))]),
        PriceEntry(
            "g6.12xlarge",
            "on-demand",
            4,
            [(0, Decimal("4.6016")), (t0 + 2 * HOUR + 20 * MIN, Decimal("5.2000"))],
        ),
    ]
    return s, teams, prices


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _cost(entry: PriceEntry | None, gpus: int, lo: float, hi: float) -> tuple[Decimal, float]:
    """(cost, unpriced GPU-seconds) of ``gpus`` GPUs over [lo, hi) under ``entry``'s history."""
    if entry is None or hi <= lo:
        return Decimal("0"), gpus * max(0.0, hi - lo)
    cuts = sorted({lo, hi, *[t for t, _ in entry.history if lo < t < hi]})
    total = Decimal("0")
    for a, b in zip(cuts, cuts[1:], strict=False):
        price = entry.price_at(a)
        total += price / entry.gpus_per_node * gpus * Decimal(repr(b - a)) / Decimal(3600)
    return total, 0.0


def expected(s: Scenario, teams: dict, prices: list[PriceEntry], start: float, end: float) -> dict:
    """{team: {"gpu_seconds", "cost", "unpriced", "by_capacity"}} and "idle", from the inputs."""
    table = {(p.instance_type, p.capacity_type): p for p in prices}
    out: dict = defaultdict(
        lambda: {
            "gpu_seconds": 0.0,
            "cost": Decimal("0"),
            "unpriced": 0.0,
            "by_capacity": defaultdict(float),
        }
    )
    node_used: dict = defaultdict(list)
    for pod in s.pods.values():
        node = s.nodes[pod.node]
        lo, hi = max(pod.start, start), min(pod.end if pod.end is not None else s.end, end)
        if hi <= lo:
            continue
        team = out[teams[pod.name]]
        cost, unpriced = _cost(
            table.get((node.instance_type, node.capacity_type)), pod.gpus, lo, hi
        )
        team["gpu_seconds"] += pod.gpus * (hi - lo)
        team["cost"] += cost
        team["unpriced"] += unpriced
        team["by_capacity"][node.capacity_type] += pod.gpus * (hi - lo)
        node_used[node.name].append((lo, hi, pod.gpus))
    idle = {"gpu_seconds": 0.0, "cost": Decimal("0"), "unpriced": 0.0}
    for node in s.nodes.values():
        lo = max(node.start if node.start is not None else s.start, start)
        hi = min(node.end if node.end is not None else s.end, end)
        entry = table.get((node.instance_type, node.capacity_type))
        # idle GPUs per elementary interval between pod start/end events
        edges = sorted(
            {lo, hi, *[t for a, b, _ in node_used[node.name] for t in (a, b) if lo < t < hi]}
        )
        for a, b in zip(edges, edges[1:], strict=False):
            busy = sum(g for p0, p1, g in node_used[node.name] if p0 <= a and b <= p1)
            free = node.gpus - busy
            if free > 0:
                cost, unpriced = _cost(entry, free, a, b)
                idle["gpu_seconds"] += free * (b - a)
                idle["cost"] += cost
                idle["unpriced"] += unpriced
    return {"teams": dict(out), "idle": idle}


def price_entries_json(prices: list[PriceEntry]) -> list[dict]:
    """The `--prices` file form (current price of each entry: no history)."""
    return [
        {
            "instance_type": p.instance_type,
            "capacity_type": p.capacity_type,
            "gpus_per_node": p.gpus_per_node,
            "hourly_price": str(sorted(p.history)[-1][1]),
        }
        for p in prices
    ]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def filter_samples(text: str, keep) -> str:
    """OpenMetrics text with only the samples whose timestamp satisfies ``keep(t)`` (for late
    scrapes: backfill part now, the rest later)."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith("#"):
            if not line.startswith("# EOF"):
                out.append(line)
            continue
        ts = float(line.rsplit(" ", 1)[1])
        if keep(ts):
            out.append(line)
    out.append("# EOF\n")
    return "".join(out)


def offgrid_scenario(t0: float, run: str | None = None) -> tuple[Scenario, dict]:
    """Pods that start and end between scrapes (30 s grid): the measurement may be off by less
    than one scrape interval × GPUs per pod, never more."""
    run = run or uuid.uuid4().hex[:10]
    s = Scenario(t0, t0 + 2 * HOUR, scrape_interval=30, seed=5, cluster_labels={"test_run": run})
    s.add_namespace("ns-x", {"modelport.io/team": "xray"})
    s.add_node(Node("n-x", instance_type="g6.12xlarge", capacity_type="on-demand", gpus=4))
    pods = [
        ("short", 1, 17.0, 17 + 100.0),
        ("mid", 2, 611.3, 3907.9),
        ("long", 1, 29.9, 2 * HOUR - 0.5),
        ("tiny", 1, 1234.5, 1234.5 + 20.0),
    ]
    for name, gpus, a, b in pods:
        s.add_pod(Pod(name, "ns-x", node="n-x", gpus=gpus, start=t0 + a, end=t0 + b))
    return s, {name: "xray" for name, *_ in pods}


def week_scenario(end: float, days: int = 6, run: str | None = None) -> tuple[Scenario, dict]:
    """A few days of two teams on spot and on-demand nodes (5-minute scrapes) for the pages:
    a steady endpoint, a daytime-only endpoint, a batch job and an idle node."""
    run = run or uuid.uuid4().hex[:10]
    start = end - days * 24 * HOUR
    s = Scenario(start, end, scrape_interval=300, seed=3, cluster_labels={"test_run": run})
    s.add_namespace("mp-search", {"modelport.io/team": "search"})
    s.add_namespace("mp-ads", {"modelport.io/team": "ads"})
    s.add_node(Node("gpu-od-1", instance_type="g6.12xlarge", capacity_type="on-demand", gpus=4))
    s.add_node(
        Node("gpu-spot-1", instance_type="g6e.xlarge", capacity_type="spot", gpus=1, gpu="L40S")
    )
    s.add_pod(
        Pod(
            "chat-predictor-0",
            "mp-search",
            node="gpu-od-1",
            gpus=2,
            start=start,
            team="search",
            endpoint="chat",
            isvc="chat",
            load=Load(
                "chat",
                requests_per_s=lambda t: 1.0 + 2.0 * ((t // HOUR) % 24 in range(8, 18)),
                gpu_util=lambda t: 70 if (t // HOUR) % 24 in range(8, 18) else 15,
            ),
        )
    )
    for day in range(days):
        d0 = start + day * 24 * HOUR
        s.add_pod(
            Pod(
                f"summarise-predictor-{day}",
                "mp-search",
                node="gpu-spot-1",
                gpus=1,
                start=d0 + 8 * HOUR,
                end=d0 + (18 if day % 3 else 12) * HOUR,
                team="search",
                endpoint="summarise",
                isvc="summarise",
                load=Load("summarise", requests_per_s=0.5, gpu_util=40),
            )
        )
        s.add_pod(
            Pod(
                f"batch-{day}",
                "mp-ads",
                node="gpu-od-1",
                gpus=1,
                start=d0 + 1 * HOUR,
                end=d0 + (3 + day % 4) * HOUR,
                team="ads",
            )
        )
    return s, {}


def save_price_table(prices) -> None:
    """Store a scenario's price table, with its history, as admin rows (offering + GpuRates)."""
    from tests.factories import GpuRateFactory, GpuTypeFactory, InstanceOfferingFactory

    offerings = {}
    for p in prices:
        if p.instance_type not in offerings:
            offerings[p.instance_type] = InstanceOfferingFactory(
                instance_type=p.instance_type,
                gpus_per_node=p.gpus_per_node,
                gpu_type=GpuTypeFactory(name=f"gpu-{p.instance_type}"),
            )
        for since, price in p.history:
            GpuRateFactory(
                offering=offerings[p.instance_type],
                capacity_type=p.capacity_type,
                hourly_price=price,
                effective_from=datetime.fromtimestamp(since, tz=UTC),
            )
