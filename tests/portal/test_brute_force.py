"""Brute force. Logins: AXES_FAILURE_LIMIT wrong passwords for one user name from one client
address lock that pair (django-axes), with a page that says so; failures for other user names,
from the same address, lock nobody else out. The client address comes from X-Forwarded-For only
through TRUSTED_PROXIES. API: bad tokens are braked per token and per address, never a valid one.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from portal.tokens import create_token, revoke_token

pytestmark = pytest.mark.django_db

INGRESS = "10.42.0.7"


@pytest.fixture(autouse=True)
def _clean():
    cache.clear()
    yield
    cache.clear()


def _login(client, username, password, ip="10.0.0.1", **extra):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )


def test_the_right_password_after_many_wrong_ones_from_that_address_is_refused(
    client, member, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "bob", "wrong")
    resp = _login(client, "bob", "password")
    assert resp.status_code == 429
    assert "Too many failed sign-in attempts" in resp.content.decode()
    assert "_auth_user_id" not in client.session


def test_made_up_user_names_from_one_address_lock_nobody_else_out(client, member, settings):
    for i in range(settings.AXES_FAILURE_LIMIT * 3):
        _login(client, f"nobody{i}", "wrong", ip="10.0.3.1")
    assert _login(client, "bob", "password", ip="10.0.3.1").status_code == 302


def test_someone_failing_behind_the_same_ingress_does_not_lock_a_user_out(
    client, member, owner, settings
):
    """Every user arrives from the ingress's address: alice keeps signing in while someone
    guesses at bob, and bob is locked only for the address that guessed."""
    settings.TRUSTED_PROXIES = ["10.42.0.0/16"]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "bob", "wrong", ip=INGRESS, HTTP_X_FORWARDED_FOR="203.0.113.9")
    attacker = _login(client, "bob", "password", ip=INGRESS, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert attacker.status_code == 429
    alice = _login(client, "alice", "password", ip=INGRESS, HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert alice.status_code == 302
    client.logout()
    bob = _login(client, "bob", "password", ip=INGRESS, HTTP_X_FORWARDED_FOR="198.51.100.5")
    assert bob.status_code == 302


def test_forwarded_for_from_an_untrusted_peer_is_ignored(client, member, settings):
    """A client that is not a trusted proxy cannot dodge its lockout by inventing addresses."""
    settings.TRUSTED_PROXIES = ["10.42.0.0/16"]
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "bob", "wrong", ip="203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    resp = _login(client, "bob", "password", ip="203.0.113.9", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert resp.status_code == 429


def test_a_few_mistakes_then_the_right_password_still_works(client, member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "bob", "wrong")
    assert _login(client, "bob", "password").status_code == 302


def test_an_admin_unlocks_a_user_with_the_command(client, member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "bob", "wrong")
    assert _login(client, "bob", "password").status_code == 429
    call_command("axes_reset_username", "bob")
    assert _login(client, "bob", "password").status_code == 302


def test_an_admin_sees_and_unlocks_lockouts_in_the_admin(client, member, staff_client, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "bob", "wrong")
    page = staff_client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and "bob" in page.content.decode()
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username="bob")
    resp = staff_client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert resp.status_code == 302
    assert _login(client, "bob", "password").status_code == 302


def _api(client, key, ip="10.0.4.1"):
    return client.get("/api/v1/endpoints/", HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR=ip)


def test_bad_tokens_from_one_address_are_braked(client, member, settings):
    settings.API_AUTH_FAILURE_LIMIT = 5
    answers = [_api(client, f"mp_wrong{i}").status_code for i in range(7)]
    assert answers[:5] == [401] * 5 and answers[5:] == [429, 429], answers
    assert _api(client, "mp_wrong-elsewhere", ip="10.0.4.2").status_code == 401


def test_a_valid_token_is_never_braked_by_bad_ones_from_its_address(client, member, settings):
    settings.API_AUTH_FAILURE_LIMIT = 5
    _token, key = create_token(member, "live")
    for i in range(40):
        _api(client, f"mp_wrong{i}")
    assert _api(client, "mp_wrong-again").status_code == 429
    ok = _api(client, key)
    assert ok.status_code == 200, ok.content


def test_one_bad_token_repeated_is_braked_from_any_address(client, member, settings):
    """The brake follows what the attacker sends: the same bad token from ever new addresses."""
    settings.API_AUTH_FAILURE_LIMIT = 5
    answers = [_api(client, "mp_same-wrong", ip=f"10.0.5.{i}").status_code for i in range(7)]
    assert answers[:5] == [401] * 5 and answers[5:] == [429, 429], answers


def test_revoked_and_expired_keys_count_as_failures_too(client, member, settings):
    settings.API_AUTH_FAILURE_LIMIT = 4
    revoked, revoked_key = create_token(member, "revoked")
    revoke_token(revoked, member)
    _expired, expired_key = create_token(
        member, "expired", expires_at=timezone.now() - timedelta(seconds=1)
    )
    answers = [
        _api(client, key, ip="10.0.4.3").status_code
        for key in [revoked_key, expired_key, revoked_key, expired_key, "mp_other"]
    ]
    assert answers == [401, 401, 401, 401, 429], answers
