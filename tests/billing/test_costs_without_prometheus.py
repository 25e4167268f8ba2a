"""Cost pages without Prometheus (issue 13): a calm setup state saying cost collection needs
Prometheus and who connects it, instead of $0.00 as if nothing was spent. Once usage is
recorded, or Prometheus answers the collector, the figures show as usual."""

import socket
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

from billing.tasks import collect_gpu_usage
from tests.factories import UsageRecordFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dead_prometheus(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.PROMETHEUS_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
    settings.PROMETHEUS_TIMEOUT = 1.0
    settings.BILLING_PROMETHEUS_TIMEOUT = 1.0
    settings.BILLING_RECOLLECT_HOURS = 1


def _team_costs(client, team):
    return client.get(reverse("billing:team_costs", args=[team.slug])).content.decode()


def test_team_costs_without_prometheus_url_say_collection_needs_it(member_client, team, settings):
    settings.PROMETHEUS_URL = ""
    body = _team_costs(member_client, team)
    assert 'data-setup="not_configured"' in body
    assert "Cost collection needs Prometheus" in body and "the platform team sets" in body
    assert 'data-testid="spent"' not in body and "$0.00" not in body


def test_platform_costs_without_prometheus_url_say_so_too(staff_client, settings):
    settings.PROMETHEUS_URL = ""
    body = staff_client.get(reverse("billing:platform_costs")).content.decode()
    assert 'data-setup="not_configured"' in body and "Cost collection needs Prometheus" in body
    assert 'data-testid="platform-total"' not in body


# the factory's usage hour is an hour ago: in this month only when that is not 00:xx on the 1st
@pytest.mark.time_machine(datetime(2026, 11, 18, 10, 30, tzinfo=UTC))
def test_recorded_usage_is_shown_even_without_prometheus(member_client, team, settings):
    settings.PROMETHEUS_URL = ""
    UsageRecordFactory(team=team)
    body = _team_costs(member_client, team)
    assert 'data-testid="prometheus-setup"' not in body and 'data-testid="spent"' in body


def test_configured_but_unreached_prometheus_shows_until_the_collector_gets_through(
    member_client, team, settings, dead_prometheus
):
    body = _team_costs(member_client, team)
    assert 'data-testid="prometheus-setup"' not in body  # nothing has failed yet
    with pytest.raises(Exception):  # noqa: B017 (the task retries: Retry or the error itself)
        collect_gpu_usage()
    body = _team_costs(member_client, team)
    assert 'data-setup="unreachable"' in body and "Prometheus has not answered yet" in body
    assert "$0.00" not in body


@pytest.mark.prometheus
def test_a_collection_that_reaches_prometheus_clears_the_setup_state(
    member_client, team, settings, dead_prometheus, prometheus_server
):
    with pytest.raises(Exception):  # noqa: B017
        collect_gpu_usage()
    assert 'data-setup="unreachable"' in _team_costs(member_client, team)
    settings.PROMETHEUS_URL = prometheus_server.url
    collect_gpu_usage()  # the real Prometheus answers (no series of this team: no rows)
    body = _team_costs(member_client, team)
    assert 'data-testid="prometheus-setup"' not in body and 'data-testid="spent"' in body
