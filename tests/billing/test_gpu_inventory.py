"""The GPU inventory page from a real Prometheus holding kube-state-metrics series (backfilled
with promtool from a tests.promdata scenario that ends now): per GPU type and capacity type,
GPUs, allocated, requested by Pending pods (attributed to their endpoint), idle, cost per hour."""

import time
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import inventory
from portal.prometheus import PrometheusClient
from tests.factories import EndpointFactory, GpuRateFactory, InstanceOfferingFactory
from tests.promdata import Node, Pod, Scenario

URL = reverse("billing:gpu_inventory")


@pytest.fixture
def fleet(prometheus_server, gpu_l4, llama_8b, team, settings):
    """Two 1-GPU on-demand L4 nodes (one busy), one 4-GPU spot L4 node (two GPUs busy) and a
    Pending 1-GPU pod of a spot L4 endpoint."""
    run = uuid.uuid4().hex[:8]
    small = InstanceOfferingFactory(gpu_type=gpu_l4, instance_type=f"inv{run}.xlarge")
    GpuRateFactory(offering=small, capacity_type="on-demand", hourly_price=Decimal("0.8000"))
    big = InstanceOfferingFactory(
        gpu_type=gpu_l4, instance_type=f"inv{run}.12xlarge", gpus_per_node=4
    )
    GpuRateFactory(offering=big, capacity_type="spot", hourly_price=Decimal("2.0000"))
    waiting = EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4, capacity_type="spot")
    now = time.time()
    s = Scenario(now - 900, now, scrape_interval=30, seed=7, cluster_labels={"test_run": run})
    s.add_node(Node("od-1", instance_type=small.instance_type, capacity_type="on-demand"))
    s.add_node(Node("od-2", instance_type=small.instance_type, capacity_type="on-demand"))
    s.add_node(Node("spot-1", instance_type=big.instance_type, capacity_type="spot", gpus=4))
    s.add_pod(Pod("a", "ns-inv", node="od-1", gpus=1, start=now - 900))
    s.add_pod(Pod("b", "ns-inv", node="spot-1", gpus=2, start=now - 900))
    s.add_pod(
        Pod(
            "c",
            "ns-inv",
            node="spot-1",
            gpus=1,
            created=now - 600,
            start=now + 3600,  # never scheduled in the window: Pending
            labels={"modelport.io/endpoint-uuid": str(waiting.uuid)},
        )
    )
    prometheus_server.backfill(s.openmetrics())
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.PROMETHEUS_CACHE_SECONDS = 0
    settings.GPU_INVENTORY_SELECTOR = f'test_run="{run}"'
    return run


@pytest.mark.prometheus
def test_inventory_per_gpu_type_and_capacity_type(fleet, prometheus_server):
    client = PrometheusClient(prometheus_server.url, 10, 0)
    rows = {
        (r.gpu_type, r.capacity_type): r
        for r in inventory.gpu_inventory(client, f'test_run="{fleet}"')
    }
    od, spot = rows[("L4-test", "on-demand")], rows[("L4-test", "spot")]
    assert (od.nodes, od.gpus, od.allocated, od.idle, od.pending) == (2, 2, 1, 1, 0)
    assert (spot.nodes, spot.gpus, spot.allocated, spot.idle, spot.pending) == (1, 4, 2, 2, 1)
    assert od.per_gpu_hour == Decimal("0.8000") and od.cost_per_hour == Decimal("1.6000")
    assert spot.per_gpu_hour == Decimal("0.5000") and spot.idle_cost_per_hour == Decimal("1.0000")


@pytest.mark.prometheus
def test_inventory_page_for_staff(fleet, staff_client, member_client):
    body = staff_client.get(URL).content.decode()
    assert 'data-testid="gpu-inventory"' in body
    row = body.split('data-capacity="spot"')[1].split("</tr>")[0]
    assert "<strong>1</strong>" in row and "$2.00" in row  # pending GPU; 4 x $0.50 per hour
    assert member_client.get(URL).status_code in (302, 403)


def test_inventory_page_without_prometheus_says_what_to_set(staff_client, settings, db):
    settings.PROMETHEUS_URL = ""
    body = staff_client.get(URL).content.decode()
    assert 'data-testid="inventory-unavailable"' in body and "PROMETHEUS_URL" in body
