"""The committed monthly run-rate of a team's live endpoints is one figure (deployments.workloads.spend.
committed): the overview and the team cost page show the same one, next to the budget."""

from decimal import Decimal

import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.workloads.choices import DesiredState
from tests.factories import EndpointFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]


@pytest.fixture
def endpoints(team, other_team):
    team.monthly_budget = Decimal("40000")
    team.save(update_fields=["monthly_budget"])
    EndpointFactory(team=team, monthly_cost_min=Decimal("9000"), monthly_cost_max=Decimal("18000"))
    EndpointFactory(
        team=team,
        status=EndpointStatus.PENDING_APPROVAL,
        monthly_cost_min=Decimal("6500"),
        monthly_cost_max=Decimal("13000"),
    )
    # not live: deleted, being removed, another team's
    EndpointFactory(team=team, status=EndpointStatus.DELETED, monthly_cost_max=Decimal("5000"))
    EndpointFactory(team=team, desired_state=DesiredState.ABSENT, monthly_cost_max=Decimal("7000"))
    EndpointFactory(team=other_team, monthly_cost_max=Decimal("9999"))


def test_overview_and_cost_page_show_the_same_committed_run_rate(member_client, team, endpoints):
    home = member_client.get(reverse("portal:home"))
    costs = member_client.get(reverse("billing:team_costs", args=[team.slug]))
    summary = costs.context["summary"]
    assert home.context["monthly_cost_max"] == summary.committed.cost_max == Decimal("31000")
    assert home.context["monthly_cost_min"] == summary.committed.cost_min == Decimal("15500")
    assert summary.committed_share == Decimal("0.775")
    body = costs.content.decode()
    assert "$31,000.00" in home.content.decode() and "$31,000.00" in body
    assert 'data-testid="committed"' in body and "78 % of the budget" in body


def test_a_past_month_shows_no_committed_run_rate(member_client, team, endpoints):
    costs = member_client.get(reverse("billing:team_costs", args=[team.slug]) + "?month=2026-01")
    assert costs.context["summary"].committed is None
    assert 'data-testid="committed"' not in costs.content.decode()
