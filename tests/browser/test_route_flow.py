"""A member requests a model route in the browser (HTMX form), a team admin approves it in the
/approvals/ inbox, the worker applies it and the gateway accepts it; the route page shows its
URL, the client snippet, the tiers and the saving measured on a real Prometheus over
backfilled vLLM series; the member endpoint's page names the route; deleting asks first.
Screenshot: docs/screenshots/route-page.png (MODELPORT_SCREENSHOT_DIR=docs/screenshots)."""

import math
import time

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import expect

from deployments.routing import reconcile, services
from deployments.routing.models import Route
from tests.deployments.conftest import fake_cluster  # noqa: F401  (fixture)
from tests.deployments.routing.conftest import backfill_two_tiers, priced_tiers

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]
HOUR = 3600


def login(page, live_server, user):
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.clear_cookies()
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_request_approve_and_read_the_route_page(
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
    now = time.time()
    t0 = math.floor(now / HOUR) * HOUR - 6 * HOUR  # inside the page's 24 h window, all final
    backfill_two_tiers(prometheus_server, team, t0, t0 + 3 * HOUR, 3.0, 0.5)
    settings.PROMETHEUS_URL = prometheus_server.url
    small, large = priced_tiers(team, status="ready")

    login(page, live_server, member)
    page.goto(f"{live_server.url}/routes/new/")
    page.fill("#id_name", "chat")
    page.select_option("#id_tier_small", value=str(small.uuid))
    page.select_option("#id_tier_large", value=str(small.uuid))  # a mistake first
    page.check("input[name=policy][value=prompt_length]")
    page.click("button:has-text('Request route')")
    expect(page.locator("#route-request .form-errors")).to_contain_text("one tier of a route")
    assert not Route.objects.exists()
    page.select_option("#id_tier_large", value=str(large.uuid))
    page.click("button:has-text('Request route')")
    expect(page.locator("#route-status")).to_contain_text("Pending approval")
    route = Route.objects.get()
    expect(page).to_have_url(f"{live_server.url}/routes/{route.uuid}/")

    login(page, live_server, owner)
    page.goto(f"{live_server.url}/approvals/")
    card = page.locator("article.approval", has_text=f"Route {team.slug}/chat")
    card.locator("button:has-text('Approve')").click()
    expect(page.locator("body")).to_contain_text("it is being applied")
    route.refresh_from_db()  # the approval queued the apply; the worker (eager here) ran it
    assert route.status == "provisioning"
    assert fake_cluster.applied == [reconcile.rendered(reconcile.load(route.pk))]
    services.record_route_observed(route, "ready", "Routing.")

    page.goto(f"{live_server.url}/routes/{route.uuid}/")
    expect(page.locator("#route-status")).to_contain_text("Ready")
    expect(page.locator("#route-url")).to_have_text(route.url)
    expect(page.locator("#route-snippet")).to_contain_text(f'base_url="{route.url}"')
    expect(page.locator("#saving-total")).to_contain_text("%")
    expect(page.locator("#saving-blended")).not_to_have_text("—")
    page.screenshot(path=screenshot_path("route-page.png"), full_page=True)

    page.goto(f"{live_server.url}/endpoints/{small.uuid}/")
    expect(page.locator("#routed-notice")).to_contain_text("chat")

    page.goto(f"{live_server.url}/routes/{route.uuid}/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button:has-text('Delete route chat')")
    route.refresh_from_db()
    assert route.desired_state == "present"  # asked first, said no
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete route chat')")
    expect(page.locator("body")).to_contain_text("is being removed")
    route.refresh_from_db()
    assert route.desired_state == "absent"
