"""The platform cost page (staff): all teams, idle pool, top spenders, spot share, month close."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import Chargeback, Statement, UsageKind
from portal.timeutil import month_start
from tests.factories import UsageRecordFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]


def _last_month():
    return month_start(month_start(timezone.now()) - timedelta(days=1))


@pytest.fixture
def usage(team, other_team):
    hour = _last_month() + timedelta(hours=3)
    UsageRecordFactory(team=team, hour=hour, cost=Decimal("8"), capacity_type="spot")
    UsageRecordFactory(team=other_team, hour=hour, cost=Decimal("2"))
    UsageRecordFactory(team=None, team_key="ghost-ns", hour=hour, cost=Decimal("1"))
    UsageRecordFactory(
        team=None,
        team_key="",
        endpoint_key="",
        kind=UsageKind.IDLE,
        hour=hour,
        cost=Decimal("3"),
        gpu_seconds=7200,
    )
    UsageRecordFactory(
        team=None,
        team_key="",
        endpoint_key="",
        kind=UsageKind.IDLE,
        hour=hour,
        instance_type="x9.mystery",
        cost=Decimal("0"),
        unpriced_gpu_seconds=3600,
    )
    return hour


def test_staff_see_every_team_and_the_idle_pool(staff_client, usage):
    r = staff_client.get(reverse("billing:platform_costs"), {"month": f"{_last_month():%Y-%m}"})
    assert r.status_code == 200
    html = r.content.decode()
    assert "$14.00" in html  # 11 allocated + 3 idle
    assert "Search" in html and "Ads" in html and "ghost-ns" in html and "no such team" in html
    assert "x9.mystery / on-demand: 1.0 GPU-h" in html
    assert "33.3 %" in html  # spot: 1 of 3 allocated GPU-hours
    assert "Close " in html  # the month is over and open
    assert 'data-confirm="Close ' in html  # a confirmation before freezing (static/js/portal.js)
    assert "onsubmit=" not in html  # the CSP forbids inline handlers


def test_members_cannot_see_it(member_client, usage):
    r = member_client.get(reverse("billing:platform_costs"))
    assert r.status_code == 403
    html = r.content.decode()
    assert "for the platform team" in html and "not authorized" not in html


def test_staff_close_and_reopen_a_month(staff_client, usage, team):
    month = f"{_last_month():%Y-%m}"
    r = staff_client.post(reverse("billing:month_close"), {"month": month})
    assert r.status_code == 302
    assert Chargeback.objects.get().status == "closed"
    assert Statement.objects.get(team=team).total_cost == Decimal("8")
    staff_client.post(reverse("billing:month_close"), {"month": month})  # twice: same statements
    assert Statement.objects.count() == 2
    staff_client.post(reverse("billing:month_reopen"), {"month": month})
    assert Chargeback.objects.get().version == 2


def test_closing_the_current_month_shows_why_not(staff_client):
    r = staff_client.post(
        reverse("billing:month_close"), {"month": f"{timezone.now():%Y-%m}"}, follow=True
    )
    assert "has not ended yet" in r.content.decode()
    assert not Chargeback.objects.exists()


def test_close_needs_post(staff_client):
    assert staff_client.get(reverse("billing:month_close")).status_code == 405


def test_bad_month_is_400(staff_client):
    r = staff_client.get(reverse("billing:platform_costs"), {"month": "nope"})
    assert r.status_code == 400 and "Month must look like" in r.content.decode()


def test_query_count_is_bounded(staff_client, usage, django_assert_max_num_queries):
    for i in range(30):
        UsageRecordFactory(hour=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i))
    with django_assert_max_num_queries(15):
        staff_client.get(reverse("billing:platform_costs"), {"month": f"{_last_month():%Y-%m}"})
