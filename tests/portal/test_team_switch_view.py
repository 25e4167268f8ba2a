from django.urls import reverse

from portal.models import Membership
from tests.factories import MembershipFactory

URL = reverse("portal:team_switch")


def test_switching_sets_the_current_team_for_the_next_requests(member_client, member, other_team):
    MembershipFactory(team=other_team, user=member, role=Membership.Role.VIEWER)
    response = member_client.post(URL, {"team": other_team.slug, "next": "/endpoints/"})
    assert response.status_code == 302 and response["Location"] == "/endpoints/"
    assert member_client.session["current_team"] == other_team.slug
    assert member_client.get(reverse("portal:home")).context["team"] == other_team


def test_outsider_cannot_switch_into_a_team_they_are_not_in(outsider_client, team):
    assert outsider_client.post(URL, {"team": team.slug}).status_code == 404
    assert "current_team" not in outsider_client.session


def test_external_next_url_is_ignored(member_client, team):
    response = member_client.post(URL, {"team": team.slug, "next": "https://evil.example/"})
    assert response["Location"] == reverse("portal:home")


def test_get_is_405(member_client):
    assert member_client.get(URL).status_code == 405
