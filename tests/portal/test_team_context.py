"""The team a page is about is the current team (issue 13): the header switcher follows the
endpoint being viewed; "Your role" says what the members table says; the approvals count
counts only requests the user can approve."""

import re

from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from portal.models import Membership
from tests.factories import EndpointFactory, MembershipFactory

HOME = reverse("portal:home")
TEAM_TABLES = ("portal_membership", "portal_team")


def _reads(sql: str) -> str | None:
    """The table a statement selects from (its first FROM)."""
    found = re.search(r'\bFROM "(\w+)"', sql)
    return found and found[1]


def test_switcher_follows_the_team_of_the_endpoint_being_viewed(
    member_client, member, team, other_team
):
    MembershipFactory(team=other_team, user=member, role=Membership.Role.MEMBER)
    theirs = EndpointFactory(team=other_team, name="their-chat")
    mine = EndpointFactory(team=team, name="my-chat")
    for endpoint, expected in ((theirs, other_team), (mine, team), (theirs, other_team)):
        r = member_client.get(reverse("deployments:endpoint_detail", args=[endpoint.uuid]))
        assert r.context["current_team"] == expected
        assert f'<option value="{expected.slug}" selected>' in r.content.decode()
        # and it stays there on the next page
        assert member_client.get(HOME).context["current_team"] == expected


def test_metrics_tab_follows_the_team_and_keeps_the_team_costs_tab(
    member_client, member, other_team, settings
):
    settings.PROMETHEUS_URL = ""
    MembershipFactory(team=other_team, user=member, role=Membership.Role.MEMBER)
    theirs = EndpointFactory(team=other_team)
    r = member_client.get(reverse("deployments:endpoint_metrics", args=[theirs.uuid]))
    assert r.context["current_team"] == other_team
    costs = reverse("billing:team_costs", args=[other_team.slug])
    assert f'<a href="{costs}">Team costs</a>' in r.content.decode()


def test_staff_member_sees_the_role_of_the_members_table(staff_client, staff, team):
    MembershipFactory(team=team, user=staff, role=Membership.Role.MEMBER)
    body = staff_client.get(HOME).content.decode()
    assert 'data-testid="your-role">Member</span>' in body
    assert "platform staff" in body
    members = staff_client.get(reverse("portal:team_settings", args=[team.slug])).content
    assert "Member" in members.decode()


def test_approvals_count_leaves_out_the_users_own_requests(owner_client, owner, team, other_team):
    EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL)
    EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL, requested_by=owner)
    EndpointFactory(team=other_team, status=EndpointStatus.PENDING_APPROVAL)
    assert owner_client.get(HOME).context["pending_approvals"] == 1


def test_the_requests_teams_are_read_once_for_the_team_role_and_switcher(
    member_client, member, team, other_team
):
    """The current team, the header switcher, the team lookup of a team page and the role
    checks share one read of the user's memberships (portal.access.user_teams)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    MembershipFactory(team=other_team, user=member, role=Membership.Role.VIEWER)
    endpoint = EndpointFactory(team=team)
    pages = [
        reverse("deployments:endpoint_detail", args=[endpoint.uuid]),
        reverse("billing:team_costs", args=[other_team.slug]),
        HOME,
    ]
    for url in pages:
        with CaptureQueriesContext(connection) as queries:
            r = member_client.get(url)
        assert r.status_code == 200, url
        team_reads = [  # statements reading memberships or teams (not filtering by them)
            q["sql"] for q in queries.captured_queries if _reads(q["sql"]) in TEAM_TABLES
        ]
        assert len(team_reads) == 1, (url, team_reads)
        body = r.content.decode()
        assert (
            f'<option value="{team.slug}"' in body and f'<option value="{other_team.slug}"' in body
        )
    # the viewer's role in the other team came from that read: its page offers no change
    theirs = EndpointFactory(team=other_team)
    page = member_client.get(reverse("deployments:endpoint_detail", args=[theirs.uuid]))
    assert page.context["can_write"] is False and page.context["current_team"] == other_team


def test_the_current_team_is_the_sessions_else_the_first_by_name(
    member_client, member, team, other_team
):
    MembershipFactory(team=other_team, user=member, role=Membership.Role.MEMBER)
    first = min((team, other_team), key=lambda t: t.name)
    assert member_client.get(HOME).context["current_team"] == first
    session = member_client.session
    session["current_team"] = "no-such-team"  # a team the user left: the first again
    session.save()
    assert member_client.get(HOME).context["current_team"] == first
    last = max((team, other_team), key=lambda t: t.name)
    session["current_team"] = last.slug
    session.save()
    assert member_client.get(HOME).context["current_team"] == last
