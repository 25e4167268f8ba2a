"""Single sign-on end to end in a real headless Chromium against a real OIDC provider
(django-oauth-toolkit in its own process): the portal's sign-in page -> the provider's login
form -> back in the portal with the teams, roles and staff the group mappings give; sign-out
ends the portal session and the provider's."""

import re

import pytest
from playwright.sync_api import expect

from portal.models import Membership
from sso.models import GroupMapping
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.browser
ADMIN, VIEWER = Membership.Role.ADMIN, Membership.Role.VIEWER


@pytest.fixture
def mapped_teams(transactional_db):
    search = TeamFactory(name="Search", slug="search")
    chat = TeamFactory(name="Chat", slug="chat")
    GroupMapping.objects.create(group="ml-search-admins", team=search, role=ADMIN)
    GroupMapping.objects.create(group="ml-readers", team=search, role=VIEWER)
    GroupMapping.objects.create(group="ml-readers", team=chat, role=VIEWER)
    GroupMapping.objects.create(group="platform-staff", grants_staff=True)
    return search, chat


def _sign_in_through_the_provider(page, base, provider, username, password):
    page.goto(f"{base}/endpoints/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.click("text=Sign in with Corp ID")
    expect(page).to_have_url(re.compile(rf"^{re.escape(provider.url)}/login/"))
    expect(page.locator("h1")).to_have_text("Company login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Log in')")


def test_sign_in_with_the_provider_lands_with_mapped_teams_and_role(
    page, live_server, oidc_provider, sso_settings, mapped_teams
):
    search, chat = mapped_teams
    base = live_server.url
    _sign_in_through_the_provider(page, base, oidc_provider, "ada", "ada-pass-1")
    # back in the portal, on the page first asked for
    expect(page.locator("h1")).to_have_text("Endpoints")
    expect(page).to_have_url(f"{base}/endpoints/")
    expect(page.locator(".whoami")).to_have_text("ada")
    expect(page.locator("#team-switch-select option")).to_have_text(["Chat", "Search"])
    expect(page.locator("nav a:has-text('Admin')")).to_be_visible()  # staff by group
    roles = {m.team.slug: m.role for m in Membership.objects.filter(user__username="ada")}
    assert roles == {"search": ADMIN, "chat": VIEWER}
    # the mapped admin role works: ada may manage the Search team's members
    page.goto(f"{base}/teams/search/settings/")
    expect(page.locator("body")).to_contain_text("ada")
    expect(page.locator("form[action$='/members/']")).to_have_count(1)

    # sign-out ends the portal session and the provider's (RP-initiated logout)
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(f"{base}/accounts/login/")
    page.goto(f"{base}/endpoints/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.click("text=Sign in with Corp ID")
    expect(page.locator("h1")).to_have_text("Company login")  # asked for the password again


def test_a_wrong_password_stays_at_the_provider_and_a_viewer_gets_viewer(
    page, live_server, oidc_provider, sso_settings, mapped_teams
):
    base = live_server.url
    _sign_in_through_the_provider(page, base, oidc_provider, "bo", "wrong")
    expect(page.locator("[role=alert]")).to_have_text("Wrong username or password.")
    page.fill("input[name=username]", "bo")
    page.fill("input[name=password]", "bo-pass-1")
    page.click("button:has-text('Log in')")
    expect(page.locator("h1")).to_have_text("Endpoints")
    expect(page.locator("nav a:has-text('Admin')")).to_have_count(0)
    roles = {m.team.slug: m.role for m in Membership.objects.filter(user__username="bo")}
    assert roles == {"search": VIEWER, "chat": VIEWER}


def test_break_glass_local_account_signs_in_next_to_single_sign_on(
    page, live_server, sso_settings, transactional_db
):
    UserFactory(username="root", password="break-glass-pw", is_staff=True)
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.locator("text=Sign in with Corp ID")).to_be_visible()
    page.fill("#id_username", "root")
    page.fill("#id_password", "break-glass-pw")
    page.click("button[type=submit]")
    expect(page.locator(".whoami")).to_have_text("root")
