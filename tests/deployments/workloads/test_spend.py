"""The budget rule's spend source (deployments.workloads.spend): it fails closed."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from deployments.endpoints.services import estimate_request, request_endpoint
from deployments.workloads import spend
from deployments.workloads.errors import BudgetExceeded, SpendUnknown
from portal.models import Team

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)


@pytest.fixture
def no_spend_source(monkeypatch):
    monkeypatch.setattr(spend, "_source", None)


@pytest.fixture
def budget_team(team):
    Team.objects.filter(pk=team.pk).update(
        monthly_budget=Decimal("100000"), over_budget_policy=Team.OverBudgetPolicy.REFUSE
    )
    team.refresh_from_db()
    return team


def test_spend_without_a_registered_source_raises_instead_of_counting_zero(no_spend_source, team):
    with pytest.raises(SpendUnknown, match="no spend source is registered"):
        spend.month_to_date_spend(team, NOW)


def test_projected_cost_without_a_source_raises(no_spend_source, team):
    with pytest.raises(SpendUnknown):
        spend.projected_month_cost(team, Decimal("10"), NOW)


def test_registered_source_gives_the_spend(monkeypatch, team):
    monkeypatch.setattr(spend, "_source", None)
    spend.register_spend_source(lambda t, now: Decimal("12.50") if t == team else Decimal("0"))
    assert spend.month_to_date_spend(team, NOW) == Decimal("12.50")


def test_billing_registers_its_source_at_start_up():
    from billing.services import month_to_date_cost

    assert spend._source is month_to_date_cost


def test_budget_rule_refuses_a_request_when_the_spend_is_unknown(
    no_spend_source, budget_team, owner, endpoint_data, monkeypatch
):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    spec = {k: v for k, v in endpoint_data.items() if k != "name"}
    problems = estimate_request(budget_team, spec).problems
    assert problems and "budget cannot be checked" in problems[0]
    with pytest.raises(BudgetExceeded, match="budget cannot be checked"):
        request_endpoint(budget_team, owner, endpoint_data)


def test_budget_rule_passes_with_a_known_spend_under_the_budget(
    budget_team, endpoint_data, monkeypatch
):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    monkeypatch.setattr(spend, "_source", lambda team, now: Decimal("0"))
    spec = {k: v for k, v in endpoint_data.items() if k != "name"}
    assert not estimate_request(budget_team, spec).problems


def test_a_team_without_a_budget_needs_no_spend_source(no_spend_source, team, endpoint_data):
    spec = {k: v for k, v in endpoint_data.items() if k != "name"}
    assert not estimate_request(team, spec).problems
