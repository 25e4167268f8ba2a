"""Brute force: logins are locked per user and per address after AXES_FAILURE_LIMIT wrong
passwords (django-axes), with a page that says so; API authentication failures from one
address are answered 429 once API_AUTH_FAILURE_LIMIT is reached."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from portal.tokens import create_token, revoke_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean():
    cache.clear()
    yield
    cache.clear()


def _login(client, username, password, ip="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_the_right_password_after_many_wrong_ones_is_refused(client, member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "bob", "wrong")
    resp = _login(client, "bob", "password")
    assert resp.status_code == 429
    assert "Too many failed sign-in attempts" in resp.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_user_across_addresses(client, member, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "bob", "wrong", ip=f"10.0.1.{i}")
    assert _login(client, "bob", "password", ip="10.0.2.1").status_code == 429


def test_lockout_is_per_address_across_users(client, member, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"nobody{i}", "wrong", ip="10.0.3.1")
    assert _login(client, "bob", "password", ip="10.0.3.1").status_code == 429
    assert _login(client, "bob", "password", ip="10.0.3.2").status_code == 302


def test_a_few_mistakes_then_the_right_password_still_works(client, member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "bob", "wrong")
    assert _login(client, "bob", "password").status_code == 302


def test_api_auth_failures_are_throttled(client, member, settings):
    settings.API_AUTH_FAILURE_LIMIT = 5
    answers = [
        client.get(
            "/api/v1/endpoints/", HTTP_AUTHORIZATION="Token wrong", REMOTE_ADDR="10.0.4.1"
        ).status_code
        for _ in range(7)
    ]
    assert answers[:5] == [401] * 5 and answers[5:] == [429, 429], answers
    other = client.get(
        "/api/v1/endpoints/", HTTP_AUTHORIZATION="Token wrong", REMOTE_ADDR="10.0.4.2"
    )
    assert other.status_code == 401


def test_revoked_and_expired_keys_count_as_failures_too(client, member, settings):
    settings.API_AUTH_FAILURE_LIMIT = 4
    revoked, revoked_key = create_token(member, "revoked")
    revoke_token(revoked, member)
    _expired, expired_key = create_token(
        member, "expired", expires_at=timezone.now() - timedelta(seconds=1)
    )
    _live, live_key = create_token(member, "live")
    answers = [
        client.get(
            "/api/v1/endpoints/", HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR="10.0.4.3"
        ).status_code
        for key in [revoked_key, expired_key, revoked_key, expired_key, live_key]
    ]
    assert answers == [401, 401, 401, 401, 429], answers
