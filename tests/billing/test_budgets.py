"""Budgets: month-to-date spend, forecast, 50/80/100% alerts once per threshold and month,
e-mail + webhook notifications (a real local HTTP server), audit log, and the request rule."""

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import services
from billing.models import BillingPolicy, BudgetAlert, IdlePolicy, UsageKind
from deployments.endpoints.admission import estimate_request
from portal import timeutil
from portal.models import AuditLog, Team
from tests.factories import UsageRecordFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)


def _spend(team, cost, hours_ago=1, **kw):
    return UsageRecordFactory(
        team=team, hour=NOW - timedelta(hours=hours_ago), cost=Decimal(cost), **kw
    )


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 204

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    # A receiver on 127.0.0.1 is refused unless the admin allow-list names it.
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    _Hook.received, _Hook.status = [], 204
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook
    server.shutdown()
    server.server_close()


def test_month_to_date_counts_this_months_priced_time_only(team, other_team):
    _spend(team, "10")
    _spend(team, "5", hours_ago=10 * 24 + 13)  # October
    _spend(other_team, "7")
    UsageRecordFactory(
        team=None,
        team_key="",
        kind=UsageKind.IDLE,
        hour=NOW - timedelta(hours=2),
        cost=Decimal("4"),
    )
    assert services.month_to_date_cost(team, NOW) == Decimal("10")


def test_month_to_date_includes_the_idle_share_when_shared(team, other_team):
    BillingPolicy.objects.update_or_create(pk=1, defaults={"idle_policy": IdlePolicy.SHARED})
    _spend(team, "10", gpu_seconds=3 * 3600)
    _spend(other_team, "7", gpu_seconds=3600)
    UsageRecordFactory(
        team=None,
        team_key="",
        kind=UsageKind.IDLE,
        hour=NOW - timedelta(hours=2),
        cost=Decimal("4"),
    )
    assert services.month_to_date_cost(team, NOW) == Decimal("13")  # 10 + 4 × 3/4


def test_a_past_month_costs_what_its_rows_and_idle_share_say(team, other_team):
    """A whole past month (until = the next month's first hour), as the costs page and the
    API read it: never the empty month after it."""
    BillingPolicy.objects.update_or_create(pk=1, defaults={"idle_policy": IdlePolicy.SHARED})
    october = datetime(2026, 10, 1, tzinfo=UTC)
    _spend(team, "5", hours_ago=10 * 24 + 13, gpu_seconds=3600)  # 2026-10-31 23:00
    _spend(other_team, "3", hours_ago=20 * 24, gpu_seconds=3 * 3600)  # October too
    _spend(team, "9")  # November: not October's
    UsageRecordFactory(team=None, team_key="", kind=UsageKind.IDLE, hour=october, cost=Decimal("8"))
    expected = Decimal("5") + Decimal("8") / 4  # its allocated cost + 1/4 of the idle
    assert services.month_cost(team, october, NOW.replace(day=1, hour=0)) == expected
    # the caller's own sums give the same answer
    assert services.month_cost(team, october, NOW.replace(day=1, hour=0), own=(5, 3600)) == (
        expected
    )


def test_forecast_adds_the_last_days_run_rate_until_month_end(team):
    for h in range(1, 25):
        _spend(team, "2", hours_ago=h)  # 2/h over the last 24 h
    spent = Decimal("48")
    remaining_hours = (datetime(2026, 12, 1, tzinfo=UTC) - NOW) / timedelta(hours=1)
    assert services.forecast_month_cost(team, NOW) == spent + 2 * Decimal(int(remaining_hours))
    # from the hours the caller has read (the costs page): the same figure, no query
    hourly = {NOW - timedelta(hours=h): Decimal("2") for h in range(1, 25)}
    hourly[NOW - timedelta(days=5)] = Decimal("100")  # before the last 24 h: not in the rate
    with CaptureQueriesContext(connection) as queries:
        forecast = services.forecast_month_cost(team, NOW, spent, hourly)
    assert forecast == spent + 2 * Decimal(int(remaining_hours)) and not queries.captured_queries


def test_alerts_fire_once_per_threshold(
    team, webhook, django_capture_on_commit_callbacks, eager_celery
):
    url, hook = webhook
    Team.objects.filter(pk=team.pk).update(
        monthly_budget=Decimal("100"), alert_email="gpu@search.example", alert_webhook_url=url
    )
    _spend(team, "85")
    with django_capture_on_commit_callbacks(execute=True):
        alerts = services.check_budgets(NOW)
    assert sorted(a.threshold for a in alerts) == [50, 80]
    assert len(mail.outbox) == 2 and "80%" in mail.outbox[1].subject
    assert sorted(p["threshold"] for p in hook.received) == [50, 80]
    assert hook.received[0]["team"] == "search" and hook.received[0]["budget"] == "100.00"
    assert AuditLog.objects.filter(action="billing.budget_alert", team=team).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert services.check_budgets(NOW) == []  # run twice: nothing new
    assert len(mail.outbox) == 2 and len(hook.received) == 2

    _spend(team, "20", hours_ago=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert [a.threshold for a in services.check_budgets(NOW)] == [100]
    assert BudgetAlert.objects.filter(team=team).count() == 3
    assert services.active_budget_alert(team, NOW).threshold == 100


def test_a_new_month_alerts_again(team):
    Team.objects.filter(pk=team.pk).update(monthly_budget=Decimal("10"))
    _spend(team, "6")
    services.check_budgets(NOW)
    dec = datetime(2026, 12, 2, tzinfo=UTC)
    UsageRecordFactory(team=team, hour=dec - timedelta(hours=1), cost=Decimal("6"))
    assert [a.threshold for a in services.check_budgets(dec)] == [50]
    assert BudgetAlert.objects.filter(team=team, threshold=50).count() == 2


def test_teams_without_budget_get_no_alerts(team):
    _spend(team, "1000")
    assert services.check_budgets(NOW) == []


def test_a_failing_webhook_is_recorded_and_retried_not_lost(team, webhook):
    url, hook = webhook
    hook.status = 500
    Team.objects.filter(pk=team.pk).update(monthly_budget=Decimal("10"), alert_webhook_url=url)
    alert = BudgetAlert.objects.create(
        team=team,
        month=NOW.date().replace(day=1),
        threshold=50,
        spend=Decimal("5"),
        budget=Decimal("10"),
    )
    with pytest.raises(services.NotificationFailed):
        services.notify_budget(alert.pk)
    alert.refresh_from_db()
    assert alert.webhook_sent_at is None and "500" in alert.notify_error
    hook.status = 204
    services.notify_budget(alert.pk)  # the retry delivers it
    alert.refresh_from_db()
    assert alert.webhook_sent_at is not None
    services.notify_budget(alert.pk)  # and a duplicate run sends nothing more
    assert len(hook.received) == 2


@pytest.mark.time_machine(NOW)
def test_request_rule_uses_actual_spend(team, endpoint_data):
    Team.objects.filter(pk=team.pk).update(
        monthly_budget=Decimal("900"), over_budget_policy="refuse"
    )
    team.refresh_from_db()
    spec = {k: v for k, v in endpoint_data.items() if k != "name"}
    # 2 replicas × 0.80/h × 720 h (November) = 1152, but only 492 h are left: 787.20 fits in 900
    assert estimate_request(team, spec).monthly_cost_max == Decimal("1152.00")
    assert not estimate_request(team, spec).problems
    _spend(team, "400")
    problems = estimate_request(team, spec).problems
    assert problems and "400.00 spent so far" in problems[0]


@pytest.mark.time_machine(NOW)
def test_banner_shows_the_highest_threshold_this_month(team, rf):
    from django.template.loader import render_to_string
    from django.utils import timezone

    from billing.context_processors import budget_alert

    def banner():
        request = rf.get("/")
        request.team = team
        alert = budget_alert(request)["budget_alert"]
        return render_to_string(
            "billing/partials/budget_banner.html", {"alert": alert, "team": team}
        ).strip()

    assert budget_alert(rf.get("/"))["budget_alert"] is None  # no team
    Team.objects.filter(pk=team.pk).update(monthly_budget=Decimal("10"))
    team.refresh_from_db()
    assert banner() == ""
    month = timeutil.month_start(timezone.now()).date()
    for threshold in (50, 80):
        BudgetAlert.objects.create(
            team=team, month=month, threshold=threshold, spend=Decimal("8"), budget=Decimal("10")
        )
    html = banner()
    assert 'data-budget-threshold="80"' in html and "passed 80%" in html
