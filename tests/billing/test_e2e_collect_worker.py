"""End to end: the hourly task on a real Celery worker (queue `billing`) collects from the real
Prometheus into PostgreSQL, crosses a budget threshold and the worker delivers the webhook."""

import json
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from billing.models import BudgetAlert, UsageKind, UsageRecord
from billing.tasks import collect_gpu_usage
from portal.models import Team
from tests.factories import TeamFactory

from .scenarios import HOUR, aligned_start, expected, mixed_scenario, save_price_table

pytestmark = [pytest.mark.dates, pytest.mark.e2e, pytest.mark.prometheus]


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _wait(predicate, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_worker_collects_and_alerts_once(prometheus_server, start_celery_worker):
    t0 = aligned_start(hours_back=5)
    scenario, teams, prices = mixed_scenario(t0)
    prometheus_server.backfill(scenario.openmetrics())
    save_price_table(prices)
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    want = expected(scenario, teams, prices, scenario.start, scenario.end)
    alpha_cost = want["teams"]["alpha"]["cost"]
    TeamFactory(
        slug="alpha",
        name="Alpha",
        monthly_budget=(alpha_cost * Decimal("1.6")).quantize(Decimal("0.01")),
        alert_webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
    )
    worker = start_celery_worker(
        PROMETHEUS_URL=prometheus_server.url,
        BILLING_PROMQL_SELECTOR=f'test_run="{scenario.cluster_labels["test_run"]}"',
        BILLING_RECOLLECT_HOURS="4",
        WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
    )
    try:
        end_iso = datetime.fromtimestamp(scenario.end, tz=UTC).isoformat()
        collect_gpu_usage.delay(end_iso)
        collect_gpu_usage.delay(end_iso)  # a duplicate run of the same hours
        assert _wait(lambda: len(_Hook.received) >= 1), worker.logs
        assert _wait(lambda: UsageRecord.objects.filter(team_key="alpha").exists())
        time.sleep(3)  # let the duplicate finish too
        got = sum(
            r.gpu_seconds
            for r in UsageRecord.objects.filter(team_key="alpha", kind=UsageKind.ALLOCATED)
        )
        assert got == pytest.approx(want["teams"]["alpha"]["gpu_seconds"], rel=1e-3)
        keys = list(
            UsageRecord.objects.values_list(
                "hour", "kind", "team_key", "endpoint_key", "instance_type", "capacity_type"
            )
        )
        assert len(keys) == len(set(keys))
        # 62.5 % of the budget spent: the 50 % alert, once, even though the task ran twice
        assert [a.threshold for a in BudgetAlert.objects.filter(team__slug="alpha")] == [50]
        assert [p["threshold"] for p in _Hook.received] == [50]
        assert BudgetAlert.objects.get(team__slug="alpha").webhook_sent_at is not None
        assert Team.objects.get(slug="alpha").usage_records.count() >= 3
        assert scenario.end - scenario.start == 4 * HOUR
    finally:
        server.shutdown()
        server.server_close()
