"""/api/v1/chargeback/: team month, platform month (staff), usage rows, statements."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import services
from billing.models import UsageKind
from portal import timeutil
from tests.factories import EndpointFactory, UsageRecordFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]


@pytest.fixture
def usage(team, other_team):
    hour = max(
        timeutil.month_start(timezone.now()),
        timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2),
    )
    chat = EndpointFactory(team=team, name="chat")
    UsageRecordFactory(
        team=team,
        hour=hour,
        endpoint=chat,
        endpoint_key="chat",
        gpu_seconds=7200,
        used_gpu_seconds=1800,
        cost=Decimal("1.600000"),
        prompt_tokens=300_000,
        generation_tokens=100_000,
    )
    UsageRecordFactory(team=other_team, hour=hour, cost=Decimal("5"))
    UsageRecordFactory(
        team=None, team_key="", endpoint_key="", kind=UsageKind.IDLE, hour=hour, cost=Decimal("2")
    )
    return chat


def test_team_month(api_client, team, usage):
    r = api_client.get(f"/api/v1/chargeback/teams/{team.slug}/")
    assert r.status_code == 200
    data = r.json()
    assert (
        data["team"] == "search" and data["currency"] == "USD" and data["is_current_month"] is True
    )
    assert data["spent"] == "1.600000"
    assert data["total"]["gpu_seconds"] == 7200 and data["total"]["cost"] == "1.600000"
    assert data["total"]["busy_share"] == "0.250000"
    assert data["total"]["keep_warm_cost"] == "1.200000"
    assert data["total"]["cost_per_million_tokens"] == "4.000000"
    (endpoint,) = data["endpoints"]
    assert endpoint["endpoint"] == "chat" and endpoint["endpoint_uuid"] == str(usage.uuid)
    assert data["offerings"][0]["instance_type"] == "g6.xlarge"
    assert sum(Decimal(d["cost"]) for d in data["days"]) == Decimal("1.6")


def test_outsider_gets_404(api_client_for, outsider, team, usage):
    assert api_client_for(outsider).get(f"/api/v1/chargeback/teams/{team.slug}/").status_code == 404


def test_bad_month_is_400(api_client, team):
    r = api_client.get(f"/api/v1/chargeback/teams/{team.slug}/", {"month": "2026/11"})
    assert r.status_code == 400 and "Month must look like" in r.json()["month"][0]


def test_team_month_is_read_only(api_client, team):
    assert api_client.post(f"/api/v1/chargeback/teams/{team.slug}/").status_code == 405


def test_platform_is_staff_only(api_client, api_client_for, staff, usage):
    assert api_client.get("/api/v1/chargeback/platform/").status_code == 403
    r = api_client_for(staff).get("/api/v1/chargeback/platform/")
    assert r.status_code == 200
    data = r.json()
    assert data["total_cost"] == "8.600000" and data["idle"]["cost"] == "2.000000"
    assert [t["team"] for t in data["teams"]] == ["ads", "search"]
    assert data["status"] == "open"


def test_usage_rows_are_team_scoped_and_filterable(api_client, api_client_for, staff, team, usage):
    rows = api_client.get("/api/v1/chargeback/usage/").json()["results"]
    assert {r["team"] for r in rows} == {"search"}  # not Ads, not idle rows
    assert (
        len(
            api_client_for(staff)
            .get("/api/v1/chargeback/usage/", {"kind": "idle"})
            .json()["results"]
        )
        == 1
    )
    assert api_client.get("/api/v1/chargeback/usage/", {"endpoint": "nope"}).json()["results"] == []


def test_usage_list_query_count(api_client, team, usage, django_assert_max_num_queries):
    for i in range(30):
        UsageRecordFactory(team=team, hour=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i))
    with django_assert_max_num_queries(6):
        api_client.get("/api/v1/chargeback/usage/")


def test_statements(api_client, api_client_for, outsider, team, other_team, staff):
    oct_ = datetime(2026, 10, 1, tzinfo=UTC)
    UsageRecordFactory(team=team, hour=oct_, cost=Decimal("3.5"))
    services.close_month(oct_, now=datetime(2026, 11, 2, tzinfo=UTC))
    services.reopen_month(oct_, actor=staff)
    services.close_month(oct_, now=datetime(2026, 11, 2, tzinfo=UTC))
    data = api_client.get("/api/v1/chargeback/statements/").json()["results"]
    assert [(s["team"], s["version"], s["is_current"]) for s in data] == [
        ("search", 2, True),
        ("search", 1, False),
    ]
    latest = api_client.get(
        "/api/v1/chargeback/statements/", {"latest": "true", "month": "2026-10"}
    ).json()
    assert [s["version"] for s in latest["results"]] == [2]
    one = api_client.get(f"/api/v1/chargeback/statements/{data[0]['uuid']}/").json()
    assert one["total_cost"] == "3.500000" and one["lines"][0]["cost"] == "3.500000"
    assert one["csv_url"].endswith(f"/costs/statements/{data[0]['uuid']}/csv/")
    assert (
        api_client_for(outsider)
        .get(f"/api/v1/chargeback/statements/{data[0]['uuid']}/")
        .status_code
        == 404
    )
    assert api_client.delete(f"/api/v1/chargeback/statements/{data[0]['uuid']}/").status_code == 405
