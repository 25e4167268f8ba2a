"""The five busiest pages of bench/web_load.py (overview, endpoint list, endpoint page, team
costs, API list and detail) cost the same SQL statements at two fleet sizes: one team with two
endpoints, and five teams with 15 endpoints each, every endpoint with events, a route tier and
usage hours. No statement per row, team, event or usage record."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from deployments.models import Endpoint
from portal.models import Membership
from tests.factories import (
    EndpointEventFactory,
    EndpointFactory,
    MembershipFactory,
    TeamFactory,
    UsageRecordFactory,
)

pytestmark = [pytest.mark.dates, pytest.mark.django_db]

NOW = datetime(2027, 3, 17, 10, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def _grow(member, team, teams: int, per_team: int) -> Endpoint:
    """`teams` teams of the member (the fixture's team first), `per_team` endpoints each, every
    endpoint with 3 events and 2 hours of usage this month; returns the team's first endpoint."""
    all_teams = [team] + [TeamFactory() for _ in range(teams - 1)]
    for extra in all_teams[1:]:
        MembershipFactory(team=extra, user=member, role=Membership.Role.MEMBER)
    for t in all_teams:
        have = Endpoint.objects.filter(team=t).count()
        for i in range(have, per_team):
            ep = EndpointFactory(team=t, name=f"ep-{i:03d}")
            for _ in range(3):
                EndpointEventFactory(endpoint=ep)
            for h in (2, 3):
                UsageRecordFactory(
                    team=t,
                    endpoint=ep,
                    endpoint_key=ep.name,
                    hour=NOW.replace(minute=0) - timedelta(hours=h),
                )
    return Endpoint.objects.filter(team=team).order_by("name").first()


def _pages(endpoint: Endpoint) -> dict[str, str]:
    return {
        "overview": "/",
        "endpoint list": reverse("deployments:endpoint_list"),
        "endpoint page": reverse("deployments:endpoint_detail", args=[endpoint.uuid]),
        "team costs": reverse("billing:team_costs", args=[endpoint.team.slug]),
    }


def _api(endpoint: Endpoint) -> dict[str, str]:
    return {
        "API list": "/api/v1/endpoints/",
        "API detail": f"/api/v1/endpoints/{endpoint.uuid}/",
    }


def _counts(member_client, api_client, endpoint, django_assert_max_num_queries, cap=30) -> dict:
    counts = {}
    for clients, pages in ((member_client, _pages(endpoint)), (api_client, _api(endpoint))):
        for name, url in pages.items():
            clients.get(url)  # warm the per-process caches (catalog, prices)
            with django_assert_max_num_queries(cap) as captured:
                response = clients.get(url)
            assert response.status_code == 200, (name, response.status_code)
            counts[name] = len(captured.captured_queries)
    return counts


def test_busiest_pages_cost_the_same_statements_at_two_fleet_sizes(
    member, team, member_client, api_client, django_assert_max_num_queries
):
    endpoint = _grow(member, team, teams=1, per_team=2)
    small = _counts(member_client, api_client, endpoint, django_assert_max_num_queries)
    endpoint = _grow(member, team, teams=5, per_team=15)
    assert Endpoint.objects.count() == 75
    large = _counts(member_client, api_client, endpoint, django_assert_max_num_queries)
    assert large == small
    assert small["endpoint page"] > 5  # counted through the whole stack (session, user, team)


def test_a_statement_per_row_would_be_caught(
    member, team, member_client, api_client, django_assert_max_num_queries, monkeypatch
):
    """The comparison above can fail: a per-row lookup in the API list shows up at the larger
    fleet only."""
    from portal.api.lean import LeanList

    plain = LeanList.represent

    def per_row(self, rows):
        rows = list(rows)
        for row in rows:
            Endpoint.objects.filter(uuid=row["uuid"]).exists()
        return plain(self, rows)

    monkeypatch.setattr(LeanList, "represent", per_row)
    endpoint = _grow(member, team, teams=1, per_team=2)
    small = _counts(member_client, api_client, endpoint, django_assert_max_num_queries, 200)
    _grow(member, team, teams=5, per_team=15)
    large = _counts(member_client, api_client, endpoint, django_assert_max_num_queries, 200)
    assert large["API list"] > small["API list"]
