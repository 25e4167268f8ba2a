"""The real OIDC provider (tests/infra/oidc.py: django-oauth-toolkit in its own process) and the
portal pointed at it."""

import pytest

from sso import oidc
from tests.infra.oidc import OidcProvider

CLIENT_ID = "modelport"
CLIENT_SECRET = "modelport-test-secret"
PEOPLE = [
    {
        "username": "ada",
        "password": "ada-pass-1",
        "email": "ada@corp.example",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "groups": ["ml-search-admins", "ml-readers", "platform-staff", "unmapped"],
    },
    {
        "username": "bo",
        "password": "bo-pass-1",
        "email": "bo@corp.example",
        "first_name": "Bo",
        "last_name": "Jones",
        "groups": ["ml-readers"],
    },
]


@pytest.fixture(scope="session")
def oidc_provider(live_server):
    base = live_server.url
    provider = OidcProvider(
        users=PEOPLE,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"{base}/oidc/callback/"],
        post_logout_redirect_uris=[f"{base}/accounts/login/"],
    ).start()
    yield provider
    provider.stop()


@pytest.fixture
def sso_settings(settings, oidc_provider):
    settings.OIDC_OP_ISSUER = oidc_provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "Corp ID"
    oidc.forget_discovery()
    yield settings
    oidc.forget_discovery()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies of either server) per test, as tests/browser has."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
