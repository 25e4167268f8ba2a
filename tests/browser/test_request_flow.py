"""A person logs in, requests an endpoint with the live estimate, finds it in the list and
opens its detail page, in a real headless Chromium."""

import re

import pytest
from playwright.sync_api import expect

from deployments.models import Endpoint

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("in_november")  # the estimate is for the calendar month: 720 h
def test_login_request_list_and_detail(page, live_server, member, team, llama_8b, gpu_l4):
    base = live_server.url
    page.goto(f"{base}/endpoints/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", "bob")
    page.fill("#id_password", "password")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Endpoints")

    page.click("text=Request an endpoint")
    expect(page.locator("h1")).to_have_text("Request an endpoint")
    page.fill("#id_name", "faq-bot")
    page.select_option("#id_model", label="Llama 3.1 8B Instruct")
    page.select_option("#id_quantization", "bf16")
    page.fill("#id_max_context_length", "8192")
    page.select_option("#id_gpu_type", label="L4-test")
    page.fill("#id_max_replicas", "2")  # typing alone (an `input` event) refreshes the preview
    # The HTMX preview prices min and max replicas from the price table.
    expect(page.locator("#estimate")).to_contain_text("$576.00")
    expect(page.locator("#estimate")).to_contain_text("$1,152.00")
    expect(page.locator("#estimate")).to_contain_text("Approved automatically")

    page.fill("#id_name", "Bad Name")
    page.click("button:has-text('Request endpoint')")
    expect(page.locator("#id_name_error")).to_contain_text("RFC 1123")
    expect(page.locator("#id_max_context_length")).to_have_value("8192")  # nothing lost

    page.fill("#id_name", "faq-bot")
    page.click("button:has-text('Request endpoint')")
    endpoint = Endpoint.objects.get(team=team, name="faq-bot")
    expect(page).to_have_url(f"{base}/endpoints/{endpoint.uuid}/")
    expect(page.locator("h1")).to_have_text("faq-bot")
    expect(page.locator("#endpoint-status .badge").first).to_be_visible()
    expect(page.locator(".flash-success")).to_contain_text("faq-bot")

    page.click("nav.mainnav >> text=Endpoints")
    row = page.locator("#endpoint-table tr", has_text="faq-bot")
    expect(row).to_contain_text("Llama 3.1 8B Instruct")
    expect(row).to_contain_text("1× L4-test")

    page.fill("#id_q", "nothing-like-this")
    expect(page.locator("#endpoint-table")).to_contain_text("No endpoints match")
    page.fill("#id_q", "faq")
    row.locator("a", has_text="faq-bot").click()
    expect(page.locator("h1")).to_have_text("faq-bot")
    expect(page.locator("text=Specification")).to_be_visible()


def test_detail_page_follows_the_status_live_and_stops_polling(page, live_server, member, team):
    from deployments.endpoints import services
    from deployments.endpoints.choices import EndpointStatus
    from tests.factories import EndpointFactory

    endpoint = EndpointFactory(
        team=team, name="warming", status=EndpointStatus.PROVISIONING, url=""
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "password")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/endpoints/{endpoint.uuid}/")
    status = page.locator("#endpoint-status")
    expect(status).to_have_attribute("hx-trigger", "every 5s")
    expect(status.locator(".badge").first).to_contain_text("Provisioning")

    services.record_observed(
        endpoint.pk, EndpointStatus.READY, "Serving traffic.", url="https://warming.example.com/v1"
    )
    # No reload: the 5 s poll swaps in the new fragment, answered with 286 (final).
    expect(status.locator(".badge").first).to_contain_text("Ready", timeout=15_000)
    expect(status).to_contain_text("https://warming.example.com/v1")
    expect(status).not_to_have_attribute("hx-trigger", "every 5s")
