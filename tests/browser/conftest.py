"""Headless Debian Chromium driven by Playwright against pytest-django's live_server."""

import os

import pytest

from tests.workers import services_required


@pytest.fixture
def browser():
    """Per test: a session-wide Playwright loop would block other tests' sync_playwright()."""
    from django.core.management.base import CommandError

    from portal.management.commands.screenshots import CHROMIUM_FLAGS, chromium_path

    try:
        executable = chromium_path()
    except CommandError as exc:
        if services_required():
            pytest.fail(f"MODELPORT_REQUIRE_SERVICES=1 and {exc}", pytrace=False)
        pytest.skip(str(exc))
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
