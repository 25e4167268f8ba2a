"""Add member, change role, remove member (team admins only)."""

from django.urls import reverse

from portal.models import AuditLog, Membership
from tests.factories import UserFactory


def add_url(team):
    return reverse("portal:team_member_add", args=[team.slug])


def role_url(team, user):
    return reverse("portal:team_member_role", args=[team.slug, user.uuid])


def remove_url(team, user):
    return reverse("portal:team_member_remove", args=[team.slug, user.uuid])


def test_owner_adds_an_existing_user_by_email(owner_client, team):
    newbie = UserFactory(username="nina", email="nina@example.com")
    response = owner_client.post(add_url(team), {"user": "NINA@example.com", "role": "viewer"})
    assert response.status_code == 302
    assert Membership.objects.get(team=team, user=newbie).role == "viewer"
    assert AuditLog.objects.filter(action="membership.add", team=team).exists()


def test_unknown_user_is_a_field_error(owner_client, team):
    response = owner_client.post(add_url(team), {"user": "ghost", "role": "member"})
    assert response.status_code == 200
    assert (
        "No user with username or e-mail 'ghost'"
        in response.context["invite_form"].errors["user"][0]
    )


def test_adding_someone_twice_is_a_field_error(owner_client, team, member):
    response = owner_client.post(add_url(team), {"user": "bob", "role": "member"})
    assert "already in" in response.context["invite_form"].errors["user"][0]


def test_bad_role_is_a_field_error(owner_client, team):
    UserFactory(username="nina")
    response = owner_client.post(add_url(team), {"user": "nina", "role": "god"})
    assert "role" in response.context["invite_form"].errors


def test_owner_changes_a_role(owner_client, team, member):
    owner_client.post(role_url(team, member), {"role": "admin"})
    assert Membership.objects.get(team=team, user=member).role == "admin"


def test_last_admin_cannot_be_demoted(owner_client, team, owner):
    response = owner_client.post(role_url(team, owner), {"role": "member"}, follow=True)
    assert "at least one admin" in response.content.decode()
    assert Membership.objects.get(team=team, user=owner).role == "admin"


def test_owner_removes_a_member(owner_client, team, member):
    owner_client.post(remove_url(team, member))
    assert not Membership.objects.filter(team=team, user=member).exists()
    assert AuditLog.objects.filter(action="membership.remove").exists()


def test_last_admin_cannot_leave(owner_client, team, owner):
    response = owner_client.post(remove_url(team, owner), follow=True)
    assert "last admin cannot leave" in response.content.decode()


def test_member_cannot_manage_members(member_client, team, owner, member):
    assert member_client.post(add_url(team), {"user": "x", "role": "member"}).status_code == 403
    assert member_client.post(role_url(team, owner), {"role": "viewer"}).status_code == 403
    assert member_client.post(remove_url(team, owner)).status_code == 403


def test_outsider_gets_404(outsider_client, team, member):
    assert outsider_client.post(add_url(team), {"user": "x"}).status_code == 404
    assert outsider_client.post(role_url(team, member), {"role": "viewer"}).status_code == 404
    assert outsider_client.post(remove_url(team, member)).status_code == 404


def test_user_of_another_team_is_404_in_role_url(owner_client, team, outsider):
    assert owner_client.post(role_url(team, outsider), {"role": "viewer"}).status_code == 404


def test_get_is_405(owner_client, team, member):
    assert owner_client.get(add_url(team)).status_code == 405
    assert owner_client.get(role_url(team, member)).status_code == 405
    assert owner_client.get(remove_url(team, member)).status_code == 405
