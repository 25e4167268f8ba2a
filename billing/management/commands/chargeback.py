"""`manage.py chargeback --start ISO --end ISO [--prices FILE] --json`: the per-team bill for a
period, measured straight from Prometheus (PROMETHEUS_URL). Nothing is stored."""

import json
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from billing import reports, services
from billing.models import BillingPolicy
from portal.prometheus import PrometheusError


def parse_iso(value: str, name: str) -> datetime:
    try:
        parsed = parse_datetime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(
            f"--{name} {value!r} is not an ISO 8601 date-time (e.g. 2026-11-01T00:00:00Z)."
        )
    if parsed.tzinfo is None:
        raise CommandError(f"--{name} {value!r} needs a time zone (e.g. a trailing Z for UTC).")
    return parsed


class Command(BaseCommand):
    help = "Per-team GPU-hours and cost for a period, straight from Prometheus."

    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, help="ISO 8601 with time zone, inclusive.")
        parser.add_argument("--end", required=True, help="ISO 8601 with time zone, exclusive.")
        parser.add_argument(
            "--prices",
            help="JSON list of {instance_type, capacity_type, gpus_per_node, "
            "hourly_price}; replaces the database price table for this run.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        start, end = parse_iso(options["start"], "start"), parse_iso(options["end"], "end")
        try:
            prices = services.load_price_file(options["prices"]) if options["prices"] else None
            rows = services.measure_usage(start, end, prices=prices)
        except services.ChargebackError as exc:
            raise CommandError(str(exc)) from exc
        except PrometheusError as exc:
            raise CommandError(
                f"Prometheus at {settings.PROMETHEUS_URL or '(PROMETHEUS_URL unset)'}: {exc}"
            ) from exc
        report = reports.build_report(rows, BillingPolicy.current().idle_policy)
        data = reports.chargeback_json(report, start, end, settings.BILLING_CURRENCY)
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self._print_table(data)

    def _print_table(self, data: dict) -> None:
        cur = data["currency"]
        self.stdout.write(f"{'team':30} {'GPU-hours':>12} {'cost':>16} {'unpriced h':>11}")
        for t in data["teams"]:
            self.stdout.write(
                f"{t['team'][:30]:30} {t['gpu_hours']:12.3f} {t['cost']:>12} {cur} "
                f"{t['unpriced_gpu_hours']:11.3f}"
            )
        idle = data["idle"]
        self.stdout.write(
            f"{'(idle)':30} {idle['gpu_hours']:12.3f} {idle['cost']:>12} {cur} "
            f"{idle['unpriced_gpu_hours']:11.3f}"
        )
        for u in data["unpriced"]:
            self.stderr.write(
                f"warning: {u['gpu_hours']:.3f} GPU-hours on {u['instance_type']}/"
                f"{u['capacity_type']} have no price"
            )
