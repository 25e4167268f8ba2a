"""Shared fixtures: the people (owner / member / viewer / outsider / staff), their clients,
and a priced GPU catalog. Real-server fixtures live in tests/infra (pytest plugin)."""

import os
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from portal.models import Membership
from portal.tokens import create_token

from .factories import (
    CatalogModelFactory,
    GpuRateFactory,
    GpuTypeFactory,
    InstanceOfferingFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
)

pytest_plugins = [
    "tests.infra.shifted_clock",
    "tests.infra.fixtures",
    "tests.workers",
    "tests.metrics_scenarios",
]


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2 costs ~0.3 s per user; tests create hundreds of users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_api_auth_failures_carried_over():
    """Failed API authentications count per bad token and per address in the cache
    (portal/api/auth.py); a test starts with none from earlier tests (the same bad token, the
    test client's 127.0.0.1)."""
    from django.core.cache import cache

    keys = [k.split(":", 2)[-1] for k in list(getattr(cache, "_cache", {})) if "api-auth-" in k]
    cache.delete_many(keys)


@pytest.fixture(autouse=True)
def _empty_reference_cache():
    """Each test starts with an empty catalog cache (catalog.cache): rows a previous test
    created are rolled back or flushed without the signals that would clear it."""
    from catalog import cache as catalog_cache

    catalog_cache.clear()
    yield
    catalog_cache.clear()


@pytest.fixture
def team(db):
    return TeamFactory(name="Search", slug="search", max_gpus=16)


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Ads", slug="ads")


@pytest.fixture
def owner(team):
    return MembershipFactory(
        team=team, user=UserFactory(username="alice"), role=Membership.Role.ADMIN
    ).user


@pytest.fixture
def member(team):
    return MembershipFactory(
        team=team, user=UserFactory(username="bob"), role=Membership.Role.MEMBER
    ).user


@pytest.fixture
def viewer(team):
    return MembershipFactory(
        team=team, user=UserFactory(username="vera"), role=Membership.Role.VIEWER
    ).user


@pytest.fixture
def outsider(other_team):
    return MembershipFactory(
        team=other_team, user=UserFactory(username="charlie"), role=Membership.Role.ADMIN
    ).user


@pytest.fixture
def staff(db):
    return UserFactory(username="stella", is_staff=True, is_superuser=True)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner):
    return _client_for(owner)


@pytest.fixture
def member_client(member):
    return _client_for(member)


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def outsider_client(outsider):
    return _client_for(outsider)


@pytest.fixture
def staff_client(staff):
    return _client_for(staff)


def _api_client_for(user) -> APIClient:
    """A client with a fresh token of `user` (each call its own token: a test may ask twice)."""
    client = APIClient()
    _token, key = create_token(user, f"tests-{secrets.token_hex(4)}")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api_client(member):
    """API client of a team member, authenticated with a token like a script would be."""
    return _api_client_for(member)


@pytest.fixture
def api_client_for():
    return _api_client_for


@pytest.fixture
def gpu_l4(db):
    gpu = GpuTypeFactory(name="L4-test", memory_gib=Decimal("24"))
    offering = InstanceOfferingFactory(gpu_type=gpu, instance_type="t-g6.xlarge", gpus_per_node=1)
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("0.8000"))
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=Decimal("0.3000"))
    big = InstanceOfferingFactory(gpu_type=gpu, instance_type="t-g6.12xlarge", gpus_per_node=4)
    GpuRateFactory(offering=big, capacity_type="on-demand", hourly_price=Decimal("4.6000"))
    return gpu


@pytest.fixture
def gpu_h100(db):
    gpu = GpuTypeFactory(name="H100-test", memory_gib=Decimal("80"))
    offering = InstanceOfferingFactory(gpu_type=gpu, instance_type="t-p5.48xlarge", gpus_per_node=8)
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("55.0400"))
    return gpu


@pytest.fixture
def llama_8b(db):
    return CatalogModelFactory(name="Llama 3.1 8B Instruct", slug="llama-3-1-8b")


@pytest.fixture
def endpoint_data(llama_8b, gpu_l4):
    """Valid request data for `services.request_endpoint` (model objects, not ids)."""
    return {
        "name": "chat",
        "model": llama_8b,
        "gpu_type": gpu_l4,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 2,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
    }


# --- headless Chromium (Playwright) -----------------------------------------------------


@pytest.fixture
def screenshot_path():
    """screenshot_path("x.png") -> where a browser test saves its screenshot: under
    $MODELPORT_SCREENSHOT_DIR, default var/screenshots/ (so a test run leaves the tree clean).
    To refresh the pictures in docs/screenshots/, run the browser tests with
    MODELPORT_SCREENSHOT_DIR=docs/screenshots."""
    root = Path(__file__).resolve().parents[1]
    folder = root / os.environ.get("MODELPORT_SCREENSHOT_DIR", "var/screenshots")

    def path(name: str) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / name)

    return path


@pytest.fixture
def browser():
    """Per test: a session-wide Playwright loop would block other tests' sync_playwright()."""
    from django.core.management.base import CommandError

    from tests.infra.fixtures import services_required
    from web.management.commands.screenshots import CHROMIUM_FLAGS, chromium_path

    try:
        executable = chromium_path()
    except CommandError as exc:
        if services_required():
            pytest.fail(f"MODELPORT_REQUIRE_SERVICES=1 and {exc}", pytrace=False)
        pytest.skip(str(exc))
    from playwright.sync_api import expect, sync_playwright

    # expect() waits 5 s by default: too short for a page that streams or polls on a 2-core
    # machine at load 10 (a waiting assertion passes as soon as it holds, so a slow machine
    # only waits longer; nothing asserts speed here: that belongs in bench/)
    expect.set_options(timeout=20_000)
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
        # While Playwright's loop runs, Django's connection handler (context-local) hands the
        # test's ORM calls their own connection; close it here, in that context, or it stays
        # open and the test database cannot be dropped at the end of the run.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def login_context(browser, live_server):
    """Make a browser context already logged in as a user (session cookie, no login form)."""
    from django.conf import settings as django_settings

    contexts = []

    def make(user, width: int = 1400, height: int = 1500):
        context = browser.new_context(viewport={"width": width, "height": height})
        client = Client()
        client.force_login(user)
        cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


# Monthly estimates are for the calendar month (deployments/estimates.py): tests that check money
# pin "now" in November 2026, 30 days = 720 hours, so no answer depends on the wall clock.
NOVEMBER_2026 = datetime(2026, 11, 16, 12, tzinfo=UTC)


@pytest.fixture
def in_november(monkeypatch):
    from catalog import pricing

    monkeypatch.setattr(pricing, "this_month", lambda: NOVEMBER_2026.replace(day=1, hour=0))
    return NOVEMBER_2026
