"""The Metrics tab in headless Chromium: uPlot draws every chart, htmx swaps the fragment
without a reload; screenshots endpoint-metrics.png and fleet-metrics.png (screenshot_path)."""

import time

import pytest
from django.urls import reverse

from portal.models import Membership
from tests.factories import EndpointFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]


@pytest.fixture
def steady_endpoint(transactional_db, settings, recent_metrics):
    settings.PROMETHEUS_URL = recent_metrics["url"]
    settings.PROMETHEUS_CACHE_SECONDS = 0
    ns, model, _, _ = recent_metrics["cases"]["steady"]
    team = TeamFactory(name="Search", slug=ns.removeprefix("mp-"))
    user = UserFactory(username="bob")
    MembershipFactory(team=team, user=user, role=Membership.Role.MEMBER)
    return EndpointFactory(team=team, name=model), user


def test_metrics_tab_draws_charts_and_polls_without_reload(
    live_server, login_context, steady_endpoint, screenshot_path
):
    endpoint, user = steady_endpoint
    page = login_context(user, height=1800).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    url = live_server.url + reverse("deployments:endpoint_metrics", args=[endpoint.uuid])

    page.goto(url + "?window=6h")
    page.wait_for_selector(".chart canvas")
    _until(page, "document.querySelectorAll('.chart canvas').length === 7")
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.chart canvas')).map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++;
        return ink; })""")
    assert all(ink > 500 for ink in drawn), drawn
    assert page.locator('[data-tile="generation_tokens_per_s"] .tile-value').inner_text() != "—"
    assert page.locator("[data-slo]").count() == 2
    page.screenshot(path=screenshot_path("endpoint-metrics.png"), full_page=True)

    page.goto(url + "?window=1h")  # polls every 15 s
    _until(page, "document.querySelectorAll('.chart canvas').length === 7")
    page.evaluate(
        "window.__notReloaded = true; window.__swaps = 0;"
        "document.body.addEventListener('htmx:afterSwap', () => window.__swaps++)"
    )
    _until(page, "window.__swaps >= 1", timeout=25)
    _until(page, "document.querySelectorAll('.chart canvas').length === 7")
    assert page.evaluate("window.__notReloaded === true")
    assert errors == []


def test_fleet_view_flags_the_idle_endpoint(
    live_server, login_context, steady_endpoint, recent_metrics, screenshot_path
):
    endpoint, _ = steady_endpoint
    staff = UserFactory(username="stella", is_staff=True)
    ns, model, _, _ = recent_metrics["cases"]["idle"]
    EndpointFactory(team=TeamFactory(name="Ads", slug=ns.removeprefix("mp-")), name=model)
    page = login_context(staff, height=1800).new_page()
    page.goto(live_server.url + reverse("portal:fleet_metrics") + "?window=6h")
    page.wait_for_selector(f'[data-idle="{model}"]')
    assert page.locator(f'tr[data-endpoint="{model}"] .tag-idle').count() == 1
    assert page.locator(f'tr[data-endpoint="{endpoint.name}"] .tag-idle').count() == 0
    page.screenshot(path=screenshot_path("fleet-metrics.png"), full_page=True)


def _until(page, expression: str, timeout: float = 10) -> None:
    """Poll `expression` with page.evaluate (Playwright's wait_for_function compiles its
    predicate with eval, which the portal's Content-Security-Policy rightly refuses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(100)
