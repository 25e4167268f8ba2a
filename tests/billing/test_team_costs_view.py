"""The team cost page: month so far, forecast, by endpoint / offering, chart, statements."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import BudgetAlert, ReferencePrice
from portal.timeutil import month_start
from tests.factories import EndpointFactory, UsageRecordFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]


@pytest.fixture
def usage(team):
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    if hour < month_start(now):
        hour = month_start(now)
    chat = EndpointFactory(team=team, name="chat")
    UsageRecordFactory(
        team=team,
        hour=hour,
        endpoint=chat,
        endpoint_key="chat",
        gpu_seconds=7200,
        used_gpu_seconds=3600,
        cost=Decimal("1.600000"),
        prompt_tokens=600_000,
        generation_tokens=200_000,
    )
    UsageRecordFactory(
        team=team,
        hour=hour,
        endpoint_key="batch",
        capacity_type="spot",
        instance_type="g6.12xlarge",
        cost=Decimal("0.400000"),
    )
    return chat


def test_member_sees_the_month(member_client, team, usage):
    ReferencePrice.objects.create(
        name="Hosted API",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        is_default=True,
    )
    r = member_client.get(reverse("billing:team_costs", args=[team.slug]))
    assert r.status_code == 200
    html = r.content.decode()
    assert "$2.00" in html  # 1.60 + 0.40 month to date
    assert "3.0 GPU-h allocated" in html
    assert 'data-testid="daily-chart"' in html and "<rect" in html
    assert reverse("deployments:endpoint_detail", args=[usage.uuid]) in html
    assert "batch" in html and "not in portal" in html
    assert "2.0000" in html  # 1.60 / 0.8M tokens × 1M
    assert "Hosted API: $0.21" in html  # 0.6 × 0.15 + 0.2 × 0.60


def test_viewer_sees_it_too(viewer_client, team, usage):
    assert viewer_client.get(reverse("billing:team_costs", args=[team.slug])).status_code == 200


def test_outsider_gets_404(outsider_client, team, usage):
    assert outsider_client.get(reverse("billing:team_costs", args=[team.slug])).status_code == 404


def test_anonymous_is_sent_to_login(client, team):
    r = client.get(reverse("billing:team_costs", args=[team.slug]))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_post_is_405(member_client, team):
    assert member_client.post(reverse("billing:team_costs", args=[team.slug])).status_code == 405


def test_htmx_gets_the_partial(member_client, team, usage):
    r = member_client.get(
        reverse("billing:team_costs", args=[team.slug]), headers={"HX-Request": "true"}
    )
    html = r.content.decode()
    assert r.status_code == 200 and html.lstrip().startswith('<div id="team-costs">')
    assert "<html" not in html


def test_a_bad_month_is_a_clear_error(member_client, team, usage):
    r = member_client.get(reverse("billing:team_costs", args=[team.slug]), {"month": "2026-13"})
    assert r.status_code == 400
    assert "Month must look like 2026-11" in r.content.decode()
    r = member_client.get(reverse("billing:team_costs", args=[team.slug]), {"month": "2999-01"})
    assert r.status_code == 400 and "has not started yet" in r.content.decode()


def test_a_past_month_shows_what_it_cost(member_client, api_client, team):
    """Last month's page and API answer: spent is the month's cost (it was 0, with a negative
    idle share, when the month's end was read as the next month's start)."""
    last_month = month_start(month_start(timezone.now()) - timedelta(days=1))
    UsageRecordFactory(
        team=team, hour=last_month + timedelta(days=3), endpoint_key="chat", cost=Decimal("4.5")
    )
    month = last_month.strftime("%Y-%m")
    r = member_client.get(reverse("billing:team_costs", args=[team.slug]), {"month": month})
    assert r.context["summary"].spent == Decimal("4.5")
    assert r.context["summary"].idle_share == 0 and "idle share" not in r.content.decode()
    data = api_client.get(f"/api/v1/chargeback/teams/{team.slug}/", {"month": month}).json()
    assert data["spent"] == "4.500000" and data["is_current_month"] is False


def test_budget_banner_and_share(member_client, team, usage):
    team.monthly_budget = Decimal("3.00")
    team.save(update_fields=["monthly_budget"])
    BudgetAlert.objects.create(
        team=team,
        month=month_start(timezone.now()).date(),
        threshold=50,
        spend=Decimal("2.00"),
        budget=Decimal("3.00"),
    )
    html = member_client.get(reverse("billing:team_costs", args=[team.slug])).content.decode()
    assert 'data-budget-threshold="50"' in html
    assert "67 %" in html  # 2.00 of 3.00


def test_query_count_is_bounded(member_client, team, usage, django_assert_max_num_queries):
    for i in range(20):
        UsageRecordFactory(
            team=team,
            hour=usage.created_at.replace(minute=0, second=0, microsecond=0)
            - timedelta(hours=i + 2),
            endpoint_key=f"ep{i}",
        )
    with django_assert_max_num_queries(25):
        member_client.get(reverse("billing:team_costs", args=[team.slug]))


def test_costs_home_redirects_to_the_current_team(member_client, team):
    r = member_client.get(reverse("billing:costs_home"))
    assert r.status_code == 302 and r["Location"] == reverse("billing:team_costs", args=[team.slug])


def test_batch_job_lines_link_to_their_batch_job(member_client, team):
    from tests.factories import BatchJobFactory

    job = BatchJobFactory(team=team, name="nightly")
    now = timezone.now()
    hour = max(
        now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1), month_start(now)
    )
    UsageRecordFactory(
        team=team,
        hour=hour,
        endpoint_key="batch/nightly",
        batch_job=job,
        capacity_type="spot",
        cost=Decimal("0.300000"),
    )
    html = member_client.get(reverse("billing:team_costs", args=[team.slug])).content.decode()
    assert reverse("deployments:batch_job_detail", args=[job.uuid]) in html
    assert "batch job</span>" in html
