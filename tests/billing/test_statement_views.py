"""Statement page and CSV: team-scoped, versioned, exact numbers."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from tests.factories import UsageRecordFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]

OCT = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def statement(team, other_team):
    UsageRecordFactory(
        team=team,
        hour=OCT,
        endpoint_key="chat",
        gpu_seconds=5400,
        cost=Decimal("1.234567"),
        prompt_tokens=10,
        generation_tokens=5,
    )
    UsageRecordFactory(team=other_team, hour=OCT)
    _, statements = services.close_month(OCT, now=datetime(2026, 11, 5, tzinfo=UTC))
    return next(s for s in statements if s.team == team)


def test_member_sees_the_statement(member_client, statement):
    r = member_client.get(reverse("billing:statement_detail", args=[statement.uuid]))
    assert r.status_code == 200
    html = r.content.decode()
    assert "October 2026" in html and "$1.23" in html and "1.5 GPU-h" in html
    assert reverse("billing:statement_csv", args=[statement.uuid]) in html


def test_csv_has_the_lines_and_totals(member_client, statement):
    r = member_client.get(reverse("billing:statement_csv", args=[statement.uuid]))
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert 'filename="modelport-search-2026-10-v1.csv"' in r["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0][:6] == [
        "row",
        "endpoint",
        "gpu_type",
        "instance_type",
        "capacity_type",
        "gpu_hours",
    ]
    assert {len(r) for r in rows} == {len(rows[0])}  # one table shape
    assert rows[1][:10] == [
        "line",
        "chat",
        "L4",
        "g6.xlarge",
        "on-demand",
        "1.500000",
        "0.000000",
        "15",
        "1.234567",
        "endpoint",
    ]
    totals = {r[0]: r[-2:] for r in rows[1:] if r[0] != "line"}
    assert totals["total_cost"] == ["1.234567", "USD"]


def test_outsider_gets_404(outsider_client, statement):
    assert (
        outsider_client.get(reverse("billing:statement_detail", args=[statement.uuid])).status_code
        == 404
    )
    assert (
        outsider_client.get(reverse("billing:statement_csv", args=[statement.uuid])).status_code
        == 404
    )


def test_post_is_405(member_client, statement):
    assert (
        member_client.post(reverse("billing:statement_detail", args=[statement.uuid])).status_code
        == 405
    )


def test_old_versions_are_marked_superseded(member_client, statement, staff):
    services.reopen_month(OCT, actor=staff)
    services.close_month(OCT, now=datetime(2026, 11, 5, tzinfo=UTC))
    html = member_client.get(
        reverse("billing:statement_detail", args=[statement.uuid])
    ).content.decode()
    assert "Superseded" in html and "v2" in html
