"""Budgets that steer routing: past N % of the monthly budget, medium requests of a complexity
route go to the small tier until the month ends, then back. The spend is billing's real
month-to-date cost of priced usage rows; the clock is the one seam (`now`), fixed here."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import yaml

from deployments.routing import steering
from deployments.routing.models import Route
from deployments.routing.tasks import steer_routes as steer_task
from portal.models import AuditLog
from tests.factories import UsageRecordFactory

from .conftest import make_route

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
NEXT_MONTH = datetime(2026, 4, 1, 0, 10, tzinfo=UTC)


@pytest.fixture
def budgeted(team):
    team.monthly_budget = Decimal("1000.00")
    team.save()
    return team


@pytest.fixture
def route(budgeted, small, large):
    r = make_route(budgeted, "complexity", small=small, large=large)
    Route.objects.filter(pk=r.pk).update(steer_at_percent=80, applied_generation=1)
    r.refresh_from_db()
    return r


def spend(team, *costs, month_of=NOW):
    """Priced usage hours in the month of `month_of`, before it."""
    first = month_of.replace(day=1, hour=0, minute=0)
    for i, cost in enumerate(costs):
        UsageRecordFactory(team=team, hour=first + timedelta(hours=i), cost=Decimal(cost))


def medium_model(objects) -> str:
    config = yaml.safe_load(objects[0]["data"]["config.yaml"])
    medium = next(d for d in config["routing"]["decisions"] if d["name"] == "medium")
    return medium["modelRefs"][0]["model"]


def test_spend_past_the_mark_steers_medium_to_small_and_applies_it(
    route, budgeted, fake_cluster, django_capture_on_commit_callbacks
):
    spend(budgeted, "500.00", "300.01")  # 800.01 > 80 % of 1000
    with django_capture_on_commit_callbacks(execute=True):
        changed = steering.steer_routes(NOW, currency="USD")
    assert [r.pk for r in changed] == [route.pk]
    route.refresh_from_db()
    assert route.medium_to_small and route.steered_since == NOW and route.generation == 2
    assert route.steering_reason == (
        "Month-to-date spend 800.01 USD passed 80 % of the 1,000.00 USD budget (800.00 USD) "
        "on 2026-03-20; medium requests go to the small tier until 2026-04-01."
    )
    assert medium_model(fake_cluster.applied[-1]) == "chat-8b"
    audit = AuditLog.objects.get(action="route.steer")
    assert audit.after["medium_to_small"] is True and audit.source == "system"


def test_exactly_at_the_mark_does_not_steer(route, budgeted, fake_cluster):
    spend(budgeted, "500.00", "300.00")  # 800.00 is not past 800
    assert steering.steer_routes(NOW) == []
    route.refresh_from_db()
    assert not route.medium_to_small and route.generation == 1


def test_running_twice_changes_nothing_the_second_time(
    route, budgeted, fake_cluster, django_capture_on_commit_callbacks
):
    spend(budgeted, "900.00")
    with django_capture_on_commit_callbacks(execute=True):
        assert len(steering.steer_routes(NOW)) == 1
    applies = len(fake_cluster.applied)
    with django_capture_on_commit_callbacks(execute=True):
        assert steering.steer_routes(NOW + timedelta(minutes=10)) == []
    assert len(fake_cluster.applied) == applies
    assert AuditLog.objects.filter(action="route.steer").count() == 1
    assert Route.objects.get(pk=route.pk).generation == 2


def test_steering_holds_for_the_month_and_ends_at_the_next(
    route, budgeted, fake_cluster, django_capture_on_commit_callbacks
):
    spend(budgeted, "900.00")
    with django_capture_on_commit_callbacks(execute=True):
        steering.steer_routes(NOW)
        # the budget is raised mid-month: the route stays steered until the month ends
        budgeted.monthly_budget = Decimal("5000.00")
        budgeted.save()
        assert steering.steer_routes(NOW + timedelta(days=5)) == []
        back = steering.steer_routes(NEXT_MONTH)
    assert [r.pk for r in back] == [route.pk]
    route.refresh_from_db()
    assert not route.medium_to_small and route.steered_since is None
    assert route.steering_reason.startswith("New month (2026-04-01)")
    assert medium_model(fake_cluster.applied[-1]) == "chat-70b"


def test_a_new_month_already_past_the_mark_stays_steered(route, budgeted, fake_cluster):
    spend(budgeted, "900.00")
    steering.steer_routes(NOW)
    spend(budgeted, "850.00", month_of=NEXT_MONTH + timedelta(hours=5))
    later = NEXT_MONTH + timedelta(hours=5)
    changed = steering.steer_routes(later)
    # no flip back and forth (nothing re-applied), but April's reason and stamp
    route.refresh_from_db()
    assert changed == [] and route.medium_to_small and route.generation == 2
    assert route.steered_since == later
    assert (
        "850.00 passed 80 %" in route.steering_reason
        and "until 2026-05-01" in route.steering_reason
    )


def test_no_budget_or_no_rule_never_steers(team, small, large, fake_cluster):
    r = make_route(team, "complexity", small=small, large=large)
    Route.objects.filter(pk=r.pk).update(steer_at_percent=50)
    spend(team, "999999.00")  # the team has no budget
    assert steering.steer_routes(NOW) == []


def test_other_policies_are_never_steered(budgeted, small, large, fake_cluster):
    r = make_route(budgeted, "prompt_length", small=small, large=large)
    Route.objects.filter(pk=r.pk).update(steer_at_percent=10)
    spend(budgeted, "900.00")
    assert steering.steer_routes(NOW) == []


def test_the_rule_removed_puts_a_steered_route_back(route, budgeted, fake_cluster):
    spend(budgeted, "900.00")
    steering.steer_routes(NOW)
    Route.objects.filter(pk=route.pk).update(steer_at_percent=None, steered_since=None)
    assert [r.pk for r in steering.steer_routes(NOW)] == [route.pk]
    route.refresh_from_db()
    assert not route.medium_to_small and "off" in route.steering_reason


def test_the_periodic_task_reads_the_clock_once_and_counts_changes(
    route, budgeted, fake_cluster, monkeypatch
):
    spend(budgeted, "900.00")
    monkeypatch.setattr(steering.timezone, "now", lambda: NOW)
    assert steer_task() == 1
    assert steer_task() == 0


@pytest.mark.parametrize(
    "spent, percent, budget, want",
    [
        ("0.02", 1, "1.00", True),
        ("0.01", 1, "1.00", False),  # equal is not past
        ("0.01", 1, "0.99", True),  # 1 % of 0.99 is 0.0099
        ("0.01", 1, "1.02", False),  # 1 % of 1.02 is 0.0102
        ("100.00", 100, "100.00", False),
        ("100.01", 100, "100.00", True),
    ],
)
def test_decide_against_hand_computed_marks(spent, percent, budget, want):
    verdict = steering.decide(
        percent=percent,
        budget=Decimal(budget),
        spent=Decimal(spent),
        steered=False,
        steered_since=None,
        now=NOW,
    )
    assert verdict.medium_to_small is want
