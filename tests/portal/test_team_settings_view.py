from decimal import Decimal

import pytest
from django.urls import reverse

from portal.models import AuditLog, Team

pytestmark = pytest.mark.dates


def url(team):
    return reverse("portal:team_settings", args=[team.slug])


def test_member_sees_members_quota_and_settings_read_only(member_client, team, owner, member):
    team.monthly_budget = Decimal("5000")
    team.save()
    response = member_client.get(url(team))
    body = response.content.decode()
    assert response.status_code == 200
    assert "alice" in body and "bob" in body
    assert "$5,000.00" in body
    assert "Only team admins can change these." in body
    assert 'name="slo_error_rate"' not in body


def test_owner_edits_slo_and_alerts_and_it_is_audited(owner_client, team):
    response = owner_client.post(
        url(team),
        {
            "slo_ttft_p95_seconds": "1.5",
            "slo_error_rate": "0.02",
            "alert_email": "ops@example.com",
            "alert_webhook_url": "https://hooks.example.com/x",
        },
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.slo_ttft_p95_seconds == Decimal("1.5")
    assert team.alert_email == "ops@example.com"
    entry = AuditLog.objects.get(action="team.settings")
    assert entry.before["alert_email"] == "" and entry.after["alert_email"] == "ops@example.com"


def test_bad_settings_are_field_errors_and_nothing_is_saved(owner_client, team):
    response = owner_client.post(
        url(team),
        {
            "slo_ttft_p95_seconds": "-1",
            "slo_error_rate": "3",
            "alert_email": "not-an-email",
            "alert_webhook_url": "nope nope",
        },
    )
    errors = response.context["settings_form"].errors
    assert set(errors) == {
        "slo_ttft_p95_seconds",
        "slo_error_rate",
        "alert_email",
        "alert_webhook_url",
    }
    assert Team.objects.get(pk=team.pk).alert_email == ""


def test_htmx_post_with_errors_returns_the_form_fragment(owner_client, team):
    response = owner_client.post(
        url(team),
        {"slo_ttft_p95_seconds": "x", "slo_error_rate": "0.1"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'id="team-settings-form"' in body


def test_htmx_post_success_answers_hx_redirect(owner_client, team):
    response = owner_client.post(
        url(team),
        {"slo_ttft_p95_seconds": "2", "slo_error_rate": "0.01"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204 and response["HX-Redirect"] == url(team)


def test_quota_fields_cannot_be_changed_here(owner_client, team):
    owner_client.post(
        url(team),
        {
            "slo_ttft_p95_seconds": "2",
            "slo_error_rate": "0.01",
            "max_gpus": "999",
            "monthly_budget": "1",
        },
    )
    team.refresh_from_db()
    assert team.max_gpus == 16 and team.monthly_budget is None


def test_member_cannot_change_settings(member_client, team):
    assert (
        member_client.post(
            url(team), {"slo_ttft_p95_seconds": "9", "slo_error_rate": "0.5"}
        ).status_code
        == 403
    )


def test_outsider_gets_404(outsider_client, team):
    assert outsider_client.get(url(team)).status_code == 404
    assert outsider_client.post(url(team), {}).status_code == 404


def test_put_is_405(owner_client, team):
    assert owner_client.put(url(team)).status_code == 405


SECRET_HOOK = "https://hooks.slack.com/services/T000/B000/s3cr3tPathToken"


def test_the_webhook_url_is_write_only_for_every_role(
    owner_client, member_client, viewer_client, team
):
    """Slack/Teams webhook URLs carry their secret in the path: after saving, only the host
    shows, to viewers, members and admins alike (as a password field would)."""
    team.alert_webhook_url = SECRET_HOOK
    team.save()
    for client in (viewer_client, member_client, owner_client):
        body = client.get(url(team)).content.decode()
        assert "s3cr3tPathToken" not in body and "/services/" not in body
        assert "hooks.slack.com" in body


def _settings(**extra):
    return {"slo_ttft_p95_seconds": "2", "slo_error_rate": "0.01", **extra}


def test_saving_without_retyping_the_webhook_keeps_it(owner_client, team):
    team.alert_webhook_url = SECRET_HOOK
    team.save()
    response = owner_client.post(url(team), _settings(alert_email="ops@example.com"))
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.alert_webhook_url == SECRET_HOOK and team.alert_email == "ops@example.com"


def test_a_new_webhook_replaces_it_and_remove_clears_it(owner_client, team):
    team.alert_webhook_url = SECRET_HOOK
    team.save()
    owner_client.post(url(team), _settings(alert_webhook_url="https://hooks.example.com/new"))
    team.refresh_from_db()
    assert team.alert_webhook_url == "https://hooks.example.com/new"
    owner_client.post(url(team), _settings(remove_alert_webhook="on"))
    team.refresh_from_db()
    assert team.alert_webhook_url == ""


def test_the_audit_log_keeps_the_webhook_host_not_its_secret(owner_client, team):
    owner_client.post(url(team), _settings(alert_webhook_url=SECRET_HOOK))
    entry = AuditLog.objects.get(action="team.settings")
    assert "s3cr3tPathToken" not in str(entry.after) and "hooks.slack.com" in str(entry.after)
