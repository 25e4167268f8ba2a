"""The admin's API tokens: listed by prefix, name, user, expiry and last use, never the key nor
its digest; no add or edit; the revoke action revokes (audited) and the key stops working."""

from django.urls import reverse
from rest_framework.test import APIClient

from portal.models import ApiToken, AuditLog
from portal.tokens import create_token

CHANGELIST = reverse("admin:portal_apitoken_changelist")


def test_changelist_shows_prefix_name_user_never_the_key(staff_client, member):
    token, key = create_token(member, "ci deploy")
    html = staff_client.get(CHANGELIST).content.decode()
    assert f"{token.prefix}…" in html and "ci deploy" in html and member.username in html
    assert "Last used" in html and "Expires at" in html
    assert key not in html and token.digest not in html
    assert key[len(token.prefix) :][:12] not in html


def test_change_page_is_read_only_and_hides_key_and_digest(staff_client, member):
    token, key = create_token(member, "ci")
    response = staff_client.get(reverse("admin:portal_apitoken_change", args=[token.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert key not in html and token.digest not in html
    assert 'name="name"' not in html  # nothing to edit


def test_tokens_cannot_be_added_in_the_admin(staff_client):
    assert staff_client.get(reverse("admin:portal_apitoken_add")).status_code == 403


def test_revoke_action_revokes_and_audits(staff_client, staff, member):
    token, key = create_token(member, "ci")
    other, other_key = create_token(member, "laptop")
    response = staff_client.post(
        CHANGELIST, {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    token.refresh_from_db()
    other.refresh_from_db()
    assert token.revoked_at is not None and other.revoked_at is None
    entry = AuditLog.objects.get(action="token.revoke")
    assert entry.actor == staff and entry.source == AuditLog.Source.ADMIN
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/teams/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
    assert api.get("/api/v1/teams/").status_code == 200


def test_revoking_twice_changes_nothing(staff_client, member):
    token, _key = create_token(member, "ci")
    for _ in range(2):
        staff_client.post(CHANGELIST, {"action": "revoke", "_selected_action": [token.pk]})
    assert AuditLog.objects.filter(action="token.revoke").count() == 1
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
