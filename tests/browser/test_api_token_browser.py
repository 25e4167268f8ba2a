"""The API token page in a real headless Chromium: create a named token, see its key once,
revoke it through htmx behind the data-confirm question (a "no" sends nothing). Screenshot
api-tokens.png (screenshot_path)."""

import re

import pytest
from playwright.sync_api import expect

from portal.models import ApiToken

pytestmark = pytest.mark.browser


def test_create_see_key_once_and_revoke_after_confirming(
    live_server, login_context, member, screenshot_path
):
    page = login_context(member, height=900).new_page()
    csp_errors = []
    page.on("console", lambda m: "Content Security Policy" in m.text and csp_errors.append(m.text))
    page.goto(f"{live_server.url}/account/api-token/")
    expect(page.locator("#api-tokens")).to_contain_text("You have no API token yet.")
    page.fill("#id_name", "CI deploy")
    page.select_option("#id_expires_in_days", "30")
    page.click("button:has-text('Create a token')")
    key = page.locator("code.token-key").inner_text()
    assert re.fullmatch(r"mp_[A-Za-z0-9_-]{43}", key)
    token = ApiToken.objects.get(user=member)
    expect(page.locator("#api-tokens")).to_contain_text(f"{token.prefix}…")
    page.screenshot(path=screenshot_path("api-tokens.png"), full_page=True)

    page.goto(f"{live_server.url}/account/api-token/")
    assert key not in page.content()
    row = page.locator("#api-tokens tr", has_text="CI deploy")
    expect(row.locator(".badge")).to_contain_text("Active")

    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, accept=False))
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_timeout(500)  # a request, had one been sent, would have swapped by now
    token.refresh_from_db()
    assert token.revoked_at is None
    expect(row.locator(".badge")).to_contain_text("Active")

    page.once("dialog", lambda d: answer(d, accept=True))
    with page.expect_response(re.compile(r"/revoke/$")) as response:
        row.locator("button:has-text('Revoke')").click()
    assert response.value.request.headers.get("hx-request") == "true"  # swapped, not reloaded
    expect(page.locator("#api-tokens tr", has_text="CI deploy").locator(".badge")).to_contain_text(
        "Revoked"
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert questions == ["Revoke the token CI deploy? Scripts using it stop working at once."] * 2
    assert not csp_errors, csp_errors
