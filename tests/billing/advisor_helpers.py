"""A priced catalog and usage rows for the savings advisor's tests (times are passed in)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.models import UsageRecord
from deployments.models import Endpoint
from tests.factories import GpuRateFactory, GpuTypeFactory, InstanceOfferingFactory

# A Wednesday mid-morning; the window is the two weeks before 10:00.
NOW = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)
END = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
START = END - timedelta(days=14)


def price_catalog() -> dict:
    """L4 (24 GiB): g6.xlarge 0.80 / spot 0.30, g6.12xlarge (4) 4.60; L40S (48 GiB):
    g6e.xlarge 1.86 / spot 0.74; A100 (80 GiB): one-GPU node 3.67."""
    gpus = {}
    for name, memory, offerings in (
        (
            "L4",
            "24",
            [
                ("g6.xlarge", 1, {"on-demand": "0.80", "spot": "0.30"}),
                ("g6.12xlarge", 4, {"on-demand": "4.60"}),
            ],
        ),
        ("L40S", "48", [("g6e.xlarge", 1, {"on-demand": "1.86", "spot": "0.74"})]),
        ("A100-80GB", "80", [("nc24ads", 1, {"on-demand": "3.67"})]),
    ):
        gpu = GpuTypeFactory(name=name, memory_gib=Decimal(memory))
        gpus[name] = gpu
        for instance_type, count, rates in offerings:
            offering = InstanceOfferingFactory(
                gpu_type=gpu, instance_type=instance_type, gpus_per_node=count
            )
            gpus[instance_type] = offering
            for capacity, price in rates.items():
                GpuRateFactory(
                    offering=offering, capacity_type=capacity, hourly_price=Decimal(price)
                )
    return gpus


def existed_since(endpoint: Endpoint, when: datetime) -> Endpoint:
    Endpoint.objects.filter(pk=endpoint.pk).update(created_at=when)
    endpoint.refresh_from_db()
    return endpoint


def hours(start: datetime = START, end: datetime = END):
    t = start
    while t < end:
        yield t
        t += timedelta(hours=1)


def add_rows(
    endpoint: Endpoint, per_hour, capacity="on-demand", instance_type=None, start=START, end=END
):
    """One usage row per hour of the window: ``per_hour(hour)`` gives (GPU-seconds, cost,
    generated tokens) or None for no row."""
    rows = []
    for hour in hours(start, end):
        values = per_hour(hour)
        if values is None:
            continue
        seconds, cost, tokens = values
        rows.append(
            UsageRecord(
                hour=hour,
                kind="allocated",
                team=endpoint.team,
                team_key=endpoint.team.slug,
                endpoint=endpoint,
                endpoint_key=endpoint.name,
                instance_type=instance_type or endpoint.offering.instance_type,
                capacity_type=capacity,
                gpu_type=endpoint.gpu_type.name,
                gpu_seconds=seconds,
                cost=Decimal(cost),
                prompt_tokens=tokens,
                generation_tokens=tokens,
            )
        )
    UsageRecord.objects.bulk_create(rows)
    return rows


def frozen_now(time_machine):
    """Every clock of the test (views, services, factories, a live server's thread) reads
    NOW, frozen: pass the time_machine fixture (time-machine)."""
    time_machine.move_to(NOW, tick=False)


def spot_candidate(team, catalog, name: str = "chat") -> Endpoint:
    """An on-demand L4 endpoint with two replicas all through the window: a spot suggestion
    of 336 h x 2 GPUs x (0.80 - 0.30) x 730 / 336 = 730.00 a month."""
    from tests.factories import EndpointFactory

    offering = catalog["g6.xlarge"]
    ep = EndpointFactory(
        team=team,
        name=name,
        gpu_type=offering.gpu_type,
        offering=offering,
        min_replicas=2,
        max_replicas=3,
        cold_start_seconds=900,
    )
    existed_since(ep, START - timedelta(days=30))
    add_rows(ep, lambda h: (7200, "1.60", 50_000))
    return ep
