"""The API token page: named tokens with an expiry, the key shown once (only its hash is
stored), revoke with HTMX."""

import logging
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import ApiToken, AuditLog
from portal.tokens import create_token, hash_key

URL = reverse("portal:api_token")
KEY_RE = re.compile(r'<code class="token-key">(mp_[A-Za-z0-9_-]{43})</code>')


def _create(client, name="CI deploy", expires="90"):
    response = client.post(URL, {"name": name, "expires_in_days": expires})
    match = KEY_RE.search(response.content.decode())
    return response, match.group(1) if match else None


def _api(key):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_page_explains_there_is_no_token_yet(member_client):
    assert "You have no API token yet." in member_client.get(URL).content.decode()


def test_creating_a_token_shows_the_key_once_and_it_works_for_the_api(member_client, member, team):
    response, key = _create(member_client)
    assert key is not None
    assert response["Cache-Control"] == "no-store"
    page = member_client.get(URL).content.decode()
    assert key not in page  # shown once
    token = ApiToken.objects.get(user=member)
    assert f"{token.prefix}…" in page and "CI deploy" in page
    assert _api(key).get("/api/v1/teams/").json()["results"][0]["slug"] == team.slug
    assert AuditLog.objects.filter(action="token.create", object_id=str(token.uuid)).exists()


def test_the_database_holds_only_a_digest_of_the_key(member_client, member):
    _response, key = _create(member_client)
    row = ApiToken.objects.filter(user=member).values().get()
    stored = [str(v) for v in row.values()]
    assert key not in stored and not any(key in v for v in stored)
    assert row["digest"] == hash_key(key) != key
    assert row["prefix"] == key[:11] and len(key) - len(row["prefix"]) == 35  # 210 bits unseen
    assert key not in str(list(AuditLog.objects.values()))


def test_several_named_tokens_per_user_each_with_its_expiry(member_client, member):
    _create(member_client, "ci", "30")
    _create(member_client, "laptop", "")
    ci, laptop = ApiToken.objects.get(name="ci"), ApiToken.objects.get(name="laptop")
    assert timedelta(days=29) < ci.expires_at - ci.created_at <= timedelta(days=30)
    assert laptop.expires_at is None


def test_a_second_live_token_of_the_same_name_is_refused(member_client, member):
    _create(member_client, "ci")
    response, key = _create(member_client, "ci")
    assert key is None
    assert "already has a live token named" in response.content.decode()
    assert ApiToken.objects.filter(user=member).count() == 1


def test_invalid_form_shows_errors_and_creates_nothing(member_client, member):
    response, key = _create(member_client, name="", expires="7")
    assert response.status_code == 200 and key is None
    assert not ApiToken.objects.exists()


def test_revoke_with_htmx_returns_the_table_and_the_key_stops_working(member_client, member):
    _response, key = _create(member_client)
    token = ApiToken.objects.get(user=member)
    url = reverse("portal:api_token_revoke", args=[token.uuid])
    response = member_client.post(url, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith('<div id="api-tokens">') and "Revoked" in body and "<html" not in body
    token.refresh_from_db()
    assert token.revoked_at is not None
    answer = _api(key).get("/api/v1/teams/")
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Token revoked."}
    assert AuditLog.objects.filter(action="token.revoke", object_id=str(token.uuid)).exists()


def test_revoke_without_htmx_redirects_to_the_page(member_client, member):
    token, _key = create_token(member, "ci")
    response = member_client.post(reverse("portal:api_token_revoke", args=[token.uuid]))
    assert response.status_code == 302 and response["Location"] == URL


def test_revoke_form_asks_first_through_data_confirm(member_client, member):
    create_token(member, "ci")
    page = member_client.get(URL).content.decode()
    assert 'data-confirm="Revoke the token ci?' in page and "onclick" not in page


def test_outsider_cannot_revoke_another_users_token_404(outsider_client, member):
    token, _key = create_token(member, "ci")
    response = outsider_client.post(reverse("portal:api_token_revoke", args=[token.uuid]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_is_post_only(member_client, member):
    token, _key = create_token(member, "ci")
    assert (
        member_client.get(reverse("portal:api_token_revoke", args=[token.uuid])).status_code == 405
    )


def test_expired_token_answers_401_and_shows_expired(member_client, member):
    token, key = create_token(member, "old", expires_at=timezone.now() + timedelta(hours=1))
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = _api(key).get("/api/v1/teams/")
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Token expired."}
    assert 'data-status="expired"' in member_client.get(URL).content.decode()


@pytest.mark.parametrize("header", ["Token nope", "Token mp_" + "x" * 43])
def test_unknown_key_answers_401_json(db, header):
    answer = APIClient().get("/api/v1/teams/", HTTP_AUTHORIZATION=header)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Invalid token."}


def test_last_used_is_recorded_at_most_once_a_minute(member):
    token, key = create_token(member, "ci")
    assert token.last_used_at is None
    api = _api(key)
    api.get("/api/v1/teams/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/teams/")
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]  # within the minute
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    api.get("/api/v1/teams/")
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=2)


def test_anonymous_is_sent_to_login(client, db):
    assert client.post(URL, {"name": "x"}).status_code == 302
    assert not ApiToken.objects.exists()


def test_put_is_405(member_client):
    assert member_client.put(URL).status_code == 405


def test_the_key_is_never_logged(member_client, member, caplog):
    caplog.set_level(logging.DEBUG)
    _response, key = _create(member_client)
    _api(key).get("/api/v1/teams/")
    token = ApiToken.objects.get(user=member)
    member_client.post(reverse("portal:api_token_revoke", args=[token.uuid]))
    _api(key).get("/api/v1/teams/")
    assert caplog.records and key not in caplog.text
    assert key[len(token.prefix) :] not in caplog.text
