"""Closing a month asks first (data-confirm, the CSP allows no inline handler) and warns when the
month has no or partial collected usage; every statement carries its data completeness (page,
API, CSV)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from billing import services
from billing.models import CollectedHour
from tests.factories import UsageRecordFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]

OCT = datetime(2026, 10, 1, tzinfo=UTC)  # 31 days = 744 hours
NOV_5 = datetime(2026, 11, 5, tzinfo=UTC)


def _collected(hours: int) -> None:
    CollectedHour.objects.bulk_create(
        [CollectedHour(hour=OCT + timedelta(hours=h), collected_at=NOV_5) for h in range(hours)]
    )


def _close_section(staff_client) -> str:
    html = staff_client.get(reverse("billing:platform_costs"), {"month": "2026-10"}).content
    html = html.decode()
    return html[html.index("Month close") :]


def test_the_close_form_asks_for_confirmation_without_inline_script(staff_client):
    _collected(744)
    html = _close_section(staff_client)
    assert 'data-confirm="Close October 2026 and freeze one statement per team?"' in html
    assert "onsubmit" not in html and "onclick" not in html
    assert "Usage collected for all 744 hours." in html


def test_a_month_without_collected_usage_is_flagged(staff_client):
    html = _close_section(staff_client)
    assert "No usage was collected for October 2026" in html and "0 of 744 hours" in html
    assert "only 0 of 744 hours (0.0 %)" in html  # in the confirmation too


def test_a_partly_collected_month_shows_the_share_of_hours(staff_client):
    _collected(558)  # 558 / 744 = 75 %
    html = _close_section(staff_client)
    assert "Usage was collected for 558 of 744 hours (75.0 %)" in html
    assert "only 558 of 744 hours (75.0 %)." in html


@pytest.fixture
def statement(team):
    _collected(372)  # half the month
    UsageRecordFactory(team=team, hour=OCT, endpoint_key="chat", gpu_seconds=3600)
    _, statements = services.close_month(OCT, now=NOV_5)
    return next(s for s in statements if s.team == team)


def test_a_statement_shows_its_completeness_on_the_page_api_and_csv(member_client, statement):
    assert (statement.hours_collected, statement.hours_in_month) == (372, 744)
    page = member_client.get(reverse("billing:statement_detail", args=[statement.uuid]))
    assert "50.0 %" in page.content.decode() and "372 of 744 hours" in page.content.decode()
    body = member_client.get(f"/api/v1/chargeback/statements/{statement.uuid}/").json()
    assert body["hours_collected"] == 372 and body["hours_in_month"] == 744
    assert body["completeness"] == "0.500000"
    csv = member_client.get(reverse("billing:statement_csv", args=[statement.uuid])).content
    lines = csv.decode().replace("\r", "").split("\n")
    assert any(
        line.startswith("completeness,") and line.endswith(",0.5000,share") for line in lines
    )
