"""Tiering by complexity in the browser: a member requests a complexity route with the team's
own examples and a budget-steering rule (previewing the rules before saving), a team admin approves it, the worker applies the
router's objects; the route page previews sample prompts (keyword and length decided, the rest
said to need the classifier); budget steering flips medium requests to the small tier and the
page gives the reason; the team's cost page shows the month's tiering statement measured on a
real Prometheus over backfilled vLLM series.
Screenshots: docs/screenshots/route-complexity-form.png, route-complexity.png, costs-tiering.png
(MODELPORT_SCREENSHOT_DIR=docs/screenshots)."""

import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from deployments.routing import steering
from deployments.routing.models import Route
from portal.timeutil import month_start
from tests.deployments.conftest import fake_cluster  # noqa: F401  (fixture)
from tests.deployments.routing.conftest import backfill_two_tiers, priced_tiers
from tests.factories import UsageRecordFactory

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]
HOUR = 3600
STEER_AT = datetime(2026, 3, 20, 12, tzinfo=UTC)  # the steering pass's clock


def login(page, live_server, user):
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.clear_cookies()
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_complexity_route_preview_steering_and_the_tiering_statement(
    page,
    live_server,
    member,
    owner,
    team,
    prometheus_server,
    screenshot_path,
    settings,
    fake_cluster,  # noqa: F811
):
    t0 = math.floor(time.time() / HOUR) * HOUR - 6 * HOUR
    end = t0 + 3 * HOUR
    backfill_two_tiers(prometheus_server, team, t0, end, 3.0, 0.5)
    settings.PROMETHEUS_URL = prometheus_server.url
    small, large = priced_tiers(team, status="ready")

    login(page, live_server, member)
    page.goto(f"{live_server.url}/routes/new/")
    page.fill("#id_name", "tiered")
    page.select_option("#id_tier_small", value=str(small.uuid))
    page.select_option("#id_tier_large", value=str(large.uuid))
    page.check("input[name=policy][value=complexity]")
    page.fill("#id_easy_examples", "Translate this sentence.\nWhat is the capital of France?")
    page.fill("#id_hard_examples", "Prove this scheduler never starves a queue.")
    page.fill("#id_hard_keywords", "formal proof\nroot cause")
    page.fill("#id_steer_at_percent", "80")
    # preview before saving: the keywords being typed decide, the rest needs the classifier
    page.fill("#id_preview_prompts", "Sketch a formal proof of this lemma\nWrite a haiku")
    page.click("#route-preview-button")
    preview = page.locator("#route-preview-table tbody tr")
    expect(preview.nth(0)).to_contain_text('keyword "formal proof"')
    expect(preview.nth(1)).to_contain_text("needs the classifier")
    assert not Route.objects.exists()
    page.locator("#route-request").screenshot(path=screenshot_path("route-complexity-form.png"))
    page.click("button:has-text('Request route')")
    expect(page.locator("#route-status")).to_contain_text("Pending approval")
    route = Route.objects.get()
    assert route.easy_examples == ["Translate this sentence.", "What is the capital of France?"]

    login(page, live_server, owner)
    page.goto(f"{live_server.url}/approvals/")
    card = page.locator("article.approval", has_text=f"Route {team.slug}/tiered")
    card.locator("button:has-text('Approve')").click()
    expect(page.locator("body")).to_contain_text("it is being applied")
    kinds = [o["kind"] for o in fake_cluster.applied[-1]]
    assert kinds[:3] == ["ConfigMap", "Deployment", "Service"]

    page.goto(f"{live_server.url}/routes/{route.uuid}/")
    page.fill("#id_prompts", "Find the root cause of this outage\nWrite a limerick about cats")
    page.click("#route-complexity button:has-text('Preview')")
    rows = page.locator("#complexity-preview tbody tr")
    expect(rows.nth(0)).to_contain_text("large")
    expect(rows.nth(0)).to_contain_text('keyword "root cause"')
    expect(rows.nth(1)).to_contain_text("needs the classifier")
    expect(page.locator("#medium-tier")).to_have_text("large")

    # month-to-date spend 850 of a 1,000 budget passes the 80 % mark: steer
    team.monthly_budget = Decimal("1000.00")
    team.save()
    UsageRecordFactory(team=team, hour=STEER_AT - timedelta(days=3), cost=Decimal("850.00"))
    assert [r.pk for r in steering.steer_routes(STEER_AT, currency="USD")] == [route.pk]
    page.goto(f"{live_server.url}/routes/{route.uuid}/")
    page.fill("#id_prompts", "Find the root cause of this outage\nWrite a limerick about cats")
    page.click("#route-complexity button:has-text('Preview')")
    expect(page.locator("#steering-reason")).to_contain_text("passed 80 % of the 1,000.00 USD")
    expect(page.locator("#medium-tier")).to_have_text("small")
    expect(rows.nth(1)).to_contain_text("medium → small")
    page.screenshot(path=screenshot_path("route-complexity.png"), full_page=True)

    # the month's tiering statement on the team's cost page
    Route.objects.filter(pk=route.pk).update(created_at=datetime.fromtimestamp(t0, UTC))
    month = month_start(datetime.fromtimestamp(end, UTC))
    page.goto(f"{live_server.url}/costs/teams/{team.slug}/?month={month:%Y-%m}")
    section = page.locator("#tiering")
    expect(section.locator('[data-testid="tiering-tiered"]')).to_be_visible()
    expect(section.locator('[data-testid="tiering-saving"]')).not_to_have_text("—")
    section.scroll_into_view_if_needed()
    section.screenshot(path=screenshot_path("costs-tiering.png"))
