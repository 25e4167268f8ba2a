"""The first hour, second pass (issue 28) in headless Chromium: the endpoint page at 390 px
(no sideways scroll), the list's filters on a phone, the change panel (model change keeps the
context length when it fits, precisions narrowed). Screenshots: endpoint-390.png,
endpoint-list-390.png, change-panel.png (MODELPORT_SCREENSHOT_DIR=docs/screenshots)."""

import pytest
from playwright.sync_api import expect

from deployments.endpoints.choices import EndpointStatus
from tests.factories import CatalogModelFactory, EndpointEventFactory, EndpointFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b, member):
    ep = EndpointFactory(
        team=team,
        name="query-rewriter-with-a-long-name",
        gpu_type=gpu_l4,
        gpu_count=2,
        model=llama_8b,
        max_context_length=8192,
        requested_by=member,
        status=EndpointStatus.READY,
        url="https://query-rewriter-with-a-long-name-predictor.team-search.example.com",
    )
    EndpointEventFactory(endpoint=ep, message="Requested by bob.")
    return ep


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_endpoint_page_at_390px_does_not_scroll_sideways(
    login_context, live_server, member, endpoint, screenshot_path
):
    page = login_context(member, width=390, height=844).new_page()
    for path in ("", "use/", "yaml/"):
        page.goto(f"{live_server.url}/endpoints/{endpoint.uuid}/{path}")
        assert _overflow(page) <= 0, (path, _overflow(page))
    page.goto(f"{live_server.url}/endpoints/{endpoint.uuid}/")
    page.screenshot(path=screenshot_path("endpoint-390.png"), full_page=True)


def test_endpoint_list_filters_do_not_fill_the_first_phone_screen(
    login_context, live_server, member, endpoint, screenshot_path
):
    page = login_context(member, width=390, height=844).new_page()
    page.goto(f"{live_server.url}/endpoints/")
    filters = page.locator("form.filters, .filters").first
    box = filters.bounding_box()
    assert box["height"] < 844 / 3, box
    expect(page.get_by_text(endpoint.name).first).to_be_in_viewport()
    assert _overflow(page) <= 0
    page.screenshot(path=screenshot_path("endpoint-list-390.png"), full_page=False)


def test_change_panel_keeps_the_context_that_fits_and_says_when_it_lowers_it(
    login_context, live_server, member, endpoint, llama_8b, screenshot_path
):
    small = CatalogModelFactory(
        slug="tiny-4k",
        name="Tiny 4K",
        parameters_b=1,
        num_layers=16,
        native_context_length=4096,
        allowed_quantizations=["fp8"],
    )
    page = login_context(member, width=1280, height=1000).new_page()
    page.goto(f"{live_server.url}/endpoints/{endpoint.uuid}/")
    page.click("text=Change the spec or schedule…")
    form = page.locator("#change form")
    expect(form).to_be_visible()
    context = form.locator("[name=max_context_length]")
    context.fill("16384")
    form.locator("[name=model]").select_option(label=llama_8b.name)  # same model: kept
    expect(context).to_have_value("16384")
    form.locator("[name=model]").select_option(label=small.name)
    expect(context).to_have_value("4096")
    expect(form.locator("[data-context-note]")).to_contain_text("Lowered from 16,384 to 4,096")
    expect(form.locator("[name=quantization]")).to_have_value("fp8")
    assert form.locator("[name=quantization] option[value=bf16]").is_disabled()
    estimate = page.locator("#change-estimate")
    expect(estimate).not_to_contain_text("Change a field")
    expect(estimate.locator("[data-verdict]")).not_to_have_attribute("data-verdict", "incomplete")
    expect(estimate).not_to_contain_text("allows fp8, not bf16")  # priced with the new values
    width = page.evaluate("document.querySelector('#change form').getBoundingClientRect().width")
    assert width > 500  # the request form's layout, not the narrow Actions card
    page.locator("#change").screenshot(path=screenshot_path("change-panel.png"))


def test_model_catalog_cards_filters_and_request_this_model(
    login_context, live_server, member, screenshot_path
):
    from catalog.seed import seed_catalog

    seed_catalog()
    page = login_context(member, width=1280, height=1000).new_page()
    page.goto(f"{live_server.url}/models/")
    cards = page.get_by_test_id("model-card")
    expect(cards.first).to_be_visible()
    total = cards.count()
    assert total >= 4
    page.screenshot(path=screenshot_path("model-catalog.png"), full_page=False)
    page.select_option("#id_gated", "yes")
    expect(cards).not_to_have_count(total)
    expect(page.get_by_test_id("gated").first).to_be_visible()
    page.select_option("#id_gated", "")
    page.fill("#id_q", "8B")
    expect(cards.first).to_contain_text("8B")
    card = cards.first
    card.get_by_test_id("request-model").click()
    expect(page.locator("#id_model option:checked")).not_to_have_text("Choose a model…")
    expect(page.locator("#estimate")).to_contain_text("/ month")  # estimated on load
    assert _overflow(page) <= 0
