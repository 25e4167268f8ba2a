"""The hour so far on the team's cost page: GPU time since the last whole hour, measured live
from a real Prometheus (collection stores whole hours only), shown as not yet collected.

The data ends now on the real clock; the instant the page is asked at is fixed inside it (25
minutes into an hour two hours ago), so the answer does not depend on the wall clock."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.services.usage import team_hour_so_far
from portal.models import Membership
from portal.prometheus import PrometheusClient
from portal.timeutil import floor_hour
from tests.factories import (
    GpuRateFactory,
    InstanceOfferingFactory,
    MembershipFactory,
    TeamFactory,
)
from tests.promdata import Node, Pod, Scenario

pytestmark = [pytest.mark.prometheus, pytest.mark.dates]


@pytest.fixture
def busy_team(prometheus_server, gpu_l4, settings):
    """A team with a 1-GPU pod on a 1-GPU on-demand node at $0.80/h for the last 3 hours."""
    run = uuid.uuid4().hex[:8]
    team = TeamFactory(slug=f"hsf{run}", name=f"Hour so far {run}")
    offering = InstanceOfferingFactory(gpu_type=gpu_l4, instance_type=f"hsf{run}.xlarge")
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("0.8000"))
    end = time.time()
    s = Scenario(end - 3 * 3600, end, scrape_interval=30, seed=3, cluster_labels={"test_run": run})
    s.add_node(Node("n1", instance_type=offering.instance_type, start=end - 3 * 3600))
    s.add_pod(Pod("p1", team.namespace, node="n1", gpus=1, start=end - 3 * 3600, team=team.slug))
    prometheus_server.backfill(s.openmetrics())
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.PROMETHEUS_CACHE_SECONDS = 0
    at = floor_hour(datetime.fromtimestamp(end, UTC) - timedelta(hours=2)) + timedelta(minutes=25)
    return team, at


def test_the_hour_so_far_is_the_gpu_time_since_the_hour_began(busy_team, prometheus_server):
    team, at = busy_team
    client = PrometheusClient(prometheus_server.url, 10, 0)
    hour = team_hour_so_far(team, at, client=client)
    assert hour.start == floor_hour(at) and hour.end == at
    # 1 GPU for the 25 minutes (to one 30 s scrape interval), at $0.80 per GPU-hour
    assert abs(hour.gpu_seconds - 1500) <= 30
    assert hour.cost == (Decimal("0.8") * hour.gpu_seconds / 3600).quantize(hour.cost)


def test_other_teams_and_the_first_minute_measure_nothing(busy_team, prometheus_server):
    team, at = busy_team
    client = PrometheusClient(prometheus_server.url, 10, 0)
    other = TeamFactory(slug=f"x{team.slug}")
    assert team_hour_so_far(other, at, client=client).gpu_seconds == 0
    assert team_hour_so_far(team, floor_hour(at) + timedelta(seconds=30), client=client) is None


def test_the_cost_page_shows_the_hour_so_far_as_not_yet_collected(busy_team, client):
    team, at = busy_team
    client.force_login(MembershipFactory(team=team, role=Membership.Role.MEMBER).user)
    with time_machine.travel(at, tick=False):
        html = client.get(reverse("billing:team_costs", args=[team.slug])).content.decode()
    notice = html.split('data-testid="hour-so-far"')[1].split("</p>")[0]
    assert "not yet collected and not in these totals" in notice
    assert "0.4 GPU-h allocated" in notice  # 25 minutes of one GPU
    assert 'data-testid="spent">$0.00<' in html  # nothing collected: the total stays 0


def test_without_prometheus_there_is_no_hour_so_far(db, settings):
    settings.PROMETHEUS_URL = ""
    team = TeamFactory()
    assert team_hour_so_far(team, datetime(2026, 5, 4, 10, 30, tzinfo=UTC)) is None
