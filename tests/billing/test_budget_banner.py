"""The budget banner shows on every page of the team that crossed a threshold this month."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import BudgetAlert
from portal.timeutil import month_start

pytestmark = pytest.mark.dates


@pytest.fixture
def crossed_80(team):
    team.monthly_budget = Decimal("400")
    team.save(update_fields=["monthly_budget"])
    for threshold in (50, 80):
        BudgetAlert.objects.create(
            team=team,
            month=month_start(timezone.now()).date(),
            threshold=threshold,
            spend=Decimal("330.00"),
            budget=Decimal("400.00"),
        )


def test_member_sees_the_highest_crossed_threshold_on_any_page(member_client, crossed_80):
    response = member_client.get(reverse("deployments:endpoint_list"))
    assert response.status_code == 200
    assert response.content.count(b'class="budget-banner') == 1
    assert b'data-budget-threshold="80"' in response.content


def test_cost_page_shows_the_banner_once(member_client, team, crossed_80):
    response = member_client.get(reverse("billing:team_costs", args=[team.slug]))
    assert response.status_code == 200
    assert response.content.count(b'class="budget-banner') == 1


def test_no_banner_without_a_crossed_threshold(member_client, team):
    response = member_client.get(reverse("deployments:endpoint_list"))
    assert b"budget-banner" not in response.content


def test_last_month_alerts_are_not_shown(member_client, team):
    team.monthly_budget = Decimal("400")
    team.save(update_fields=["monthly_budget"])
    last_month = (month_start(timezone.now()) - timezone.timedelta(days=1)).date().replace(day=1)
    BudgetAlert.objects.create(
        team=team, month=last_month, threshold=100, spend=Decimal("401"), budget=Decimal("400")
    )
    response = member_client.get(reverse("deployments:endpoint_list"))
    assert b"budget-banner" not in response.content
