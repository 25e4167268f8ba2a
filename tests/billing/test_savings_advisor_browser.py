"""The savings advisor on the team cost page in headless Chromium: seeded usage rows, the
suggestions with their money, one dismissed through htmx. Saves savings-advisor.png
(screenshot_path; MODELPORT_SCREENSHOT_DIR=docs/screenshots refreshes the committed one)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import ReferencePrice, SavingsDismissal
from portal.models import Membership
from tests.factories import (
    CatalogModelFactory,
    EndpointFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
)

from .advisor_helpers import (
    START,
    add_rows,
    existed_since,
    frozen_now,
    price_catalog,
    spot_candidate,
)

pytestmark = [pytest.mark.dates, pytest.mark.browser]


def _office(hour) -> bool:
    return hour.weekday() < 5 and 8 <= hour.hour < 19


@pytest.fixture
def seeded(transactional_db, time_machine):
    frozen_now(time_machine)  # the live server's thread answers the same time
    catalog = price_catalog()
    team = TeamFactory(name="Search", slug="search", monthly_budget=Decimal("5000"))
    user = UserFactory(username="bob")
    MembershipFactory(team=team, user=user, role=Membership.Role.MEMBER)
    chat = spot_candidate(team, catalog)
    a100 = catalog["nc24ads"]
    reports = EndpointFactory(
        team=team,
        name="reports",
        gpu_type=a100.gpu_type,
        offering=a100,
        model=CatalogModelFactory(name="Llama 3.1 8B Instruct"),
        cold_start_seconds=900,
    )
    existed_since(reports, START - timedelta(days=30))
    add_rows(reports, lambda h: (3600, "3.67", 200_000 if _office(h) else 0))
    ReferencePrice.objects.create(
        name="Hosted 8B API",
        input_per_million=Decimal("0.20"),
        output_per_million=Decimal("0.60"),
        is_default=True,
    )
    return {"team": team, "user": user, "chat": chat, "reports": reports}


def test_team_cost_page_shows_the_advisor_and_dismisses_a_suggestion(
    live_server, login_context, seeded, screenshot_path
):
    page = login_context(seeded["user"], height=1800).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + reverse("billing:team_costs", args=["search"]))

    advisor = page.get_by_test_id("savings-advisor")
    advisor.wait_for()
    items = advisor.get_by_test_id("suggestion")
    kinds = {items.nth(i).get_attribute("data-kind") for i in range(items.count())}
    assert {"spot", "off_hours", "right_size", "fp8"} <= kinds
    spot = advisor.locator('[data-testid="suggestion"][data-kind="spot"]')
    assert spot.get_by_test_id("saving").inner_text() == "$720.00"
    assert "Run chat on spot capacity" in spot.inner_text()
    # reports: 8B bf16 on one A100 at 3.67/h fits one L4 in fp8 at 0.80: 720 x 2.87.
    fp8 = advisor.locator('[data-testid="suggestion"][data-kind="fp8"]')
    assert fp8.get_by_test_id("saving").inner_text() == "$2,066.40"
    assert "Quality" in fp8.inner_text()
    assert "cheaper" in advisor.get_by_test_id("break-even-verdict").inner_text()
    # The best per endpoint, added up: chat 720.00 + reports' fp8 2,066.40.
    assert advisor.get_by_test_id("advisor-total").inner_text().startswith("up to $2,786.40")

    page.evaluate("window.__noReload = true")
    spot.get_by_role("button", name="Dismiss").click()
    page.wait_for_selector('[data-testid="suggestion"][data-kind="spot"]', state="detached")
    assert page.evaluate("window.__noReload") is True  # htmx swapped the fragment only
    assert "1 dismissed" in page.get_by_test_id("savings-advisor").inner_text()
    d = SavingsDismissal.objects.get()
    assert (d.endpoint, d.kind, d.dismissed_by) == (seeded["chat"], "spot", seeded["user"])
    page.get_by_test_id("savings-advisor").scroll_into_view_if_needed()
    page.screenshot(path=screenshot_path("savings-advisor.png"), full_page=True)
    assert errors == []
