"""The team cost page in headless Chromium over usage collected from a real Prometheus:
stat cards, the daily chart, the endpoint table, the month picker (htmx swap, no reload).
Saves team-costs.png (screenshot_path)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.models import ReferencePrice, UsageRecord
from portal import timeutil
from portal.models import Membership, Team
from tests.factories import (
    EndpointFactory,
    GpuRateFactory,
    GpuTypeFactory,
    InstanceOfferingFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
)

from .scenarios import HOUR, week_scenario

pytestmark = [pytest.mark.dates, pytest.mark.browser, pytest.mark.prometheus]


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01')):,}"


@pytest.fixture
def collected(transactional_db, settings, prometheus_server):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0).timestamp() - HOUR
    month_start = timeutil.month_start(datetime.fromtimestamp(end, tz=UTC)).timestamp()
    days = max(1, min(6, int((end - month_start) // (24 * HOUR))))
    scenario, _ = week_scenario(end, days=days)
    prometheus_server.backfill(scenario.openmetrics())
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.BILLING_PROMQL_SELECTOR = f'test_run="{scenario.cluster_labels["test_run"]}"'
    for it, gpus, name, rates in (
        ("g6.12xlarge", 4, "L4", {"on-demand": "4.6016"}),
        ("g6e.xlarge", 1, "L40S", {"spot": "0.7400", "on-demand": "1.8610"}),
    ):
        offering = InstanceOfferingFactory(
            instance_type=it, gpus_per_node=gpus, gpu_type=GpuTypeFactory(name=name)
        )
        for capacity, price in rates.items():
            GpuRateFactory(offering=offering, capacity_type=capacity, hourly_price=Decimal(price))
    team = TeamFactory(name="Search", slug="search", monthly_budget=Decimal("400"))
    TeamFactory(name="Ads", slug="ads")
    chat = EndpointFactory(team=team, name="chat")
    ReferencePrice.objects.create(
        name="Hosted 8B API",
        input_per_million=Decimal("0.20"),
        output_per_million=Decimal("0.60"),
        is_default=True,
    )
    user = UserFactory(username="bob")
    MembershipFactory(team=team, user=user, role=Membership.Role.MEMBER)
    result = services.collect_gpu_usage(
        datetime.fromtimestamp(scenario.start, tz=UTC), datetime.fromtimestamp(scenario.end, tz=UTC)
    )
    services.check_budgets()
    return {
        "team": Team.objects.get(pk=team.pk),
        "user": user,
        "chat": chat,
        "result": result,
        "scenario": scenario,
        "days": days,
    }


def test_team_cost_page_shows_collected_costs(
    live_server, login_context, collected, screenshot_path
):
    team = collected["team"]
    assert collected["result"].rows > 0 and not collected["result"].unpriced
    page = login_context(collected["user"]).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + reverse("billing:team_costs", args=[team.slug]))

    # The page shows the month of "now"; on the first day(s) of a month the scenario reaches back
    # into the month before, so both expectations come from the rows of each month.
    this_month = timeutil.month_start(datetime.now(UTC))
    last_month = timeutil.month_start(this_month - timedelta(days=1))
    rows_now = UsageRecord.objects.filter(team=team, hour__gte=this_month)
    rows_before = UsageRecord.objects.filter(team=team, hour__gte=last_month, hour__lt=this_month)
    spent = sum((r.cost for r in rows_now), Decimal("0"))
    spent_before = sum((r.cost for r in rows_before), Decimal("0"))
    assert page.get_by_test_id("spent").inner_text() == _money(spent)
    usage_days = len({r.hour.date() for r in rows_now if r.gpu_seconds})
    bars = page.locator('[data-testid="daily-chart"] rect')
    heights = [float(bars.nth(i).get_attribute("height")) for i in range(bars.count())]
    assert sum(1 for h in heights if h > 0) >= min(collected["days"], usage_days)  # one per day
    rows = page.get_by_test_id("endpoint-table").locator("tbody tr")
    assert rows.count() == 2
    assert page.get_by_test_id("endpoint-table").get_by_role("link", name="chat").is_visible()
    assert page.locator(".budget-banner").count() == (1 if spent >= 200 else 0)

    page.evaluate("window.__noReload = true")
    page.screenshot(path=screenshot_path("team-costs.png"), full_page=True)
    page.select_option("#id_month", index=1)  # the month before: htmx swaps the body only
    page.wait_for_url("**month=**")
    if spent_before == 0:  # the usual case; on a month's first day the scenario reaches into it
        page.wait_for_function("!document.querySelector('[data-testid=\"daily-chart\"]')")
        assert page.get_by_test_id("spent").inner_text() == "$0.00"
    else:
        page.wait_for_function(
            "was => document.querySelector('[data-testid=\"spent\"]').innerText !== was",
            arg=_money(spent),
        )
    assert page.evaluate("window.__noReload") is True
    assert errors == []
