"""The tiering statement on the team's cost page, in the statement's CSV and in the API: the
API over backfilled traffic on a real Prometheus (answers computed here, the clock fixed at the
view's one seam), the CSV from hand-computed lines, and the states without Prometheus."""

import csv
import io
import math
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.services.tiering import RouteTiering
from deployments.endpoints.dashboards import PageData
from deployments.routing.models import Route
from deployments.routing.saving import TierUsage, compute_saving
from portal.models import Membership
from portal.timeutil import month_start
from tests.deployments.routing.conftest import backfill_two_tiers, make_route, priced_tiers
from tests.factories import EndpointFactory, MembershipFactory, TeamFactory, UsageRecordFactory

HOUR = 3600
CENT = Decimal("0.01")
OCT = datetime(2026, 10, 1, tzinfo=UTC)


def tiering_url(team):
    return f"/api/v1/chargeback/teams/{team.slug}/tiering/"


@pytest.mark.prometheus
def test_api_and_page_show_the_measured_month(
    prometheus_server, db, settings, monkeypatch, member, api_client_for, client
):
    settings.PROMETHEUS_URL = prometheus_server.url
    run = uuid.uuid4().hex[:6]
    team = TeamFactory(slug=f"tv{run}", name=f"Tiering views {run}")
    MembershipFactory(team=team, user=member, role=Membership.Role.MEMBER)
    t0 = math.floor(time.time() / HOUR) * HOUR - 6 * HOUR
    end = t0 + 3 * HOUR
    s = backfill_two_tiers(prometheus_server, team, t0, end, 3.0, 0.5)
    small, large = priced_tiers(team)
    route = make_route(team, "complexity", small=small, large=large)
    Route.objects.filter(pk=route.pk).update(
        created_at=datetime.fromtimestamp(t0, UTC), applied_generation=1
    )
    end_dt = datetime.fromtimestamp(end, UTC)
    month = month_start(end_dt)
    # the one clock seam of the view: "now" is the end of the backfilled traffic
    monkeypatch.setattr("billing.api.tiering_views.timezone.now", lambda: end_dt)

    got = api_client_for(member).get(tiering_url(team), {"month": f"{month:%Y-%m}"})

    assert got.status_code == 200, got.content
    body = got.json()
    assert (body["team"], body["month"], body["stale"]) == (team.slug, f"{month:%Y-%m}", False)
    [row] = body["routes"]
    start = max(t0, int(month.timestamp()))
    hours = Decimal(end - start) / HOUR
    s_req, s_p, s_g = s.truth["chat-8b-predictor-a-1"].counted_in(start, end)
    l_req, l_p, l_g = s.truth["chat-70b-predictor-b-1"].counted_in(start, end)
    tokens = s_p + s_g + l_p + l_g
    actual = (Decimal("1.2") + Decimal("20")) * hours
    large_alone = Decimal("20") * hours / (l_p + l_g) * tokens
    assert (row["route"], row["requests"], row["tokens"]) == ("chat", s_req + l_req, tokens)
    assert abs(Decimal(row["cost"]) - actual) <= CENT
    assert abs(Decimal(row["large_alone"]) - large_alone) <= CENT
    assert abs(Decimal(row["saving"]) - (large_alone - actual)) <= CENT
    pct = (large_alone - actual) / large_alone * 100
    assert abs(Decimal(row["saving_percent"]) - pct) <= Decimal("0.05")

    client.force_login(member)
    html = client.get(
        reverse("billing:team_costs", args=[team.slug]), {"month": f"{month:%Y-%m}"}
    ).content.decode()
    assert 'id="tiering"' in html and 'data-testid="tiering-chat"' in html
    assert "Same traffic on the large tier alone" in html


def test_api_without_prometheus_is_503_saying_why(db, settings, member, team, api_client_for):
    settings.PROMETHEUS_URL = ""
    got = api_client_for(member).get(tiering_url(team))
    assert got.status_code == 503
    assert "not configured" in got.json()["detail"]


def test_api_hides_other_teams_and_checks_the_month(db, outsider, team, member, api_client_for):
    assert api_client_for(outsider).get(tiering_url(team)).status_code == 404
    bad = api_client_for(member).get(tiering_url(team), {"month": "2026-13"})
    assert bad.status_code == 400 and "month" in bad.json()


def test_cost_page_says_when_the_counters_cannot_be_read(db, settings, member_client, team):
    settings.PROMETHEUS_URL = ""
    html = member_client.get(reverse("billing:team_costs", args=[team.slug])).content.decode()
    assert 'id="tiering-unavailable"' in html and "not configured" in html


@pytest.fixture
def statement(team):
    UsageRecordFactory(team=team, hour=OCT, cost=Decimal("1.00"))
    _, statements = services.close_month(OCT, now=datetime(2026, 11, 5, tzinfo=UTC))
    return next(s for s in statements if s.team == team)


def test_statement_csv_and_page_carry_the_tiering_lines(
    db, member_client, team, statement, monkeypatch
):
    small = EndpointFactory(team=team, name="chat-8b")
    large = EndpointFactory(team=team, name="chat-70b")
    route = make_route(team, "complexity", small=small, large=large)
    # small: 1 GPU at $1/h, large: $16/h, 10 hours (the saving's own hand-computed case)
    saving = compute_saving(
        [
            TierUsage("small", "chat-8b", requests=900, tokens=9_000_000, hourly_price=Decimal(1)),
            TierUsage(
                "large", "chat-70b", requests=100, tokens=1_000_000, hourly_price=Decimal(16)
            ),
        ],
        Decimal(10),
    )
    line = RouteTiering(route, OCT, datetime(2026, 10, 1, 10, tzinfo=UTC), saving)
    monkeypatch.setattr("billing.views.tiering_page", lambda *a: PageData({"lines": [line]}))

    r = member_client.get(reverse("billing:statement_csv", args=[statement.uuid]))
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert {len(row) for row in rows} == {len(rows[0])}  # the statement's one table shape
    cols = rows[0]
    tiering = [dict(zip(cols, row, strict=True)) for row in rows if row[0] != "line"]
    tiering = [row for row in tiering if row["route"] == "chat"]

    def pick(row, *names):
        return [row[name] for name in names]

    figures = ("row", "tier", "endpoint", "requests", "tokens", "cost", "value", "unit")
    assert pick(tiering[0], *figures) == [
        "tier", "small", "chat-8b", "900", "9000000", "10.00", "1.11", "USD per 1M tokens"
    ]  # fmt: skip
    assert pick(tiering[1], *figures) == [
        "tier", "large", "chat-70b", "100", "1000000", "160.00", "160.00", "USD per 1M tokens"
    ]  # fmt: skip
    # 170 / 10M x 1M = 17; large alone 10M x 160 / 1M = 1600; saving 1430 = 89.4 %
    assert pick(tiering[2], *figures) == [
        "route_tiering", "all", "", "1000", "10000000", "170.00", "17.00", "USD per 1M tokens"
    ]  # fmt: skip
    assert [pick(row, "row", "value", "unit") for row in tiering[3:]] == [
        ["route_large_alone", "1600.00", "USD"],
        ["route_saving", "1430.00", "USD"],
        ["route_saving_percent", "89.4", "percent"],
    ]

    html = member_client.get(
        reverse("billing:statement_detail", args=[statement.uuid])
    ).content.decode()
    assert 'data-testid="tiering-chat"' in html and "$1,430.00" in html


def test_statement_csv_says_when_tiering_is_unavailable(db, settings, member_client, statement):
    settings.PROMETHEUS_URL = ""
    r = member_client.get(reverse("billing:statement_csv", args=[statement.uuid]))
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    [unavailable] = [row for row in rows if row[0] == "tiering_unavailable"]
    assert len(unavailable) == len(rows[0]) and unavailable[-2] == "not_configured"
