"""First run without a cluster, and the overview on a 390 px phone, in headless Chromium.
Screenshots go to docs/screenshots/ (issue 13)."""

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.reconcile import NO_CLUSTER_MESSAGE
from tests.factories import EndpointFactory

pytestmark = pytest.mark.browser

SHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


def _login(page, base):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "password")
    page.click("button[type=submit]")


@pytest.fixture
def no_cluster(settings):
    settings.KUBECONFIG = ""
    settings.KUBE_IN_CLUSTER = False


def test_first_run_overview_and_not_deployed_endpoint(page, live_server, member, team, no_cluster):
    ep = EndpointFactory(
        team=team,
        name="faq-bot",
        status=EndpointStatus.NOT_DEPLOYED,
        status_message=NO_CLUSTER_MESSAGE,
    )
    _login(page, live_server.url)
    expect(page.get_by_test_id("no-cluster-notice")).to_contain_text("No cluster connected")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "first-run-overview.png"), full_page=True)

    page.goto(f"{live_server.url}/endpoints/{ep.uuid}/")
    badge = page.locator("#endpoint-status .badge").first
    expect(badge).to_contain_text("Not deployed")
    expect(page.locator("#endpoint-status")).to_contain_text("no cluster connected")
    expect(page.locator("body")).not_to_contain_text("Failed")
    page.screenshot(path=str(SHOTS / "no-cluster-endpoint.png"), full_page=True)


def test_phone_nav_wraps_and_estimate_is_above_submit(browser, live_server, member, team):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        _login(page, live_server.url)
        for name in ("Endpoints", "Costs"):
            link = page.locator("nav.mainnav a", has_text=name).first
            expect(link).to_be_in_viewport()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # nothing scrolls sideways
        page.goto(f"{live_server.url}/endpoints/new/")
        estimate = page.locator(".estimate-card").first.bounding_box()
        submit = page.locator("button:has-text('Request endpoint')").bounding_box()
        assert estimate["y"] < submit["y"]
    finally:
        context.close()


def test_request_form_polish_in_the_browser(page, live_server, member, team, llama_8b, gpu_l4):
    """Picking a model fills its precision and context; the schedule fields are disabled
    until the schedule is switched on; an invalid submit moves the focus to the summary;
    the live estimate gives no approval verdict before the request is valid."""
    _login(page, live_server.url)
    page.goto(f"{live_server.url}/endpoints/new/")
    expect(page.locator("#id_quantization option", has_text="---------")).to_have_count(0)
    page.select_option("#id_model", str(llama_8b.pk))
    expect(page.locator("#id_quantization")).to_have_value(llama_8b.allowed_quantizations[0])
    expect(page.locator("#id_max_context_length")).to_have_value(
        str(llama_8b.native_context_length)
    )
    expect(page.locator("#id_schedule_start")).to_be_disabled()
    expect(page.locator("#id_schedule_timezone")).to_be_disabled()
    page.check("#id_schedule_enabled")
    expect(page.locator("#id_schedule_start")).to_be_enabled()
    page.select_option("#id_schedule_timezone", "Europe/Berlin")
    page.uncheck("#id_schedule_enabled")
    expect(page.locator("#id_schedule_timezone")).to_be_disabled()

    page.select_option("#id_gpu_type", str(gpu_l4.pk))
    page.fill("#id_max_context_length", "8192")  # the native context does not fit one L4
    page.fill("#id_min_replicas", "3")
    page.fill("#id_max_replicas", "1")
    expect(page.locator("#estimate [data-verdict]")).to_have_attribute("data-verdict", "incomplete")
    expect(page.locator("#estimate")).not_to_contain_text("Approved automatically")

    page.click("button:has-text('Request endpoint')")
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Minimum replicas cannot be above maximum replicas.")
