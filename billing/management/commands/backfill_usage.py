"""`manage.py backfill_usage --start ISO --end ISO`: collect (or re-collect) hourly usage rows for a
past period, a day at a time. Safe to run again: every hour is rewritten, never added to."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing import services
from billing.models import Chargeback, ChargebackStatus
from portal import timeutil
from portal.prometheus import PrometheusError

from .chargeback import parse_iso


class Command(BaseCommand):
    help = "Collect GPU usage rows for whole hours in [start, end) from Prometheus."

    def add_arguments(self, parser):
        parser.add_argument(
            "--start", required=True, help="ISO 8601 with time zone (rounded down to the hour)."
        )
        parser.add_argument(
            "--end", required=True, help="ISO 8601 with time zone (rounded down to the hour)."
        )
        parser.add_argument(
            "--chunk-hours", type=int, default=24, help="Hours per Prometheus round trip."
        )

    def handle(self, *args, **options):
        start = timeutil.floor_hour(parse_iso(options["start"], "start"))
        end = timeutil.floor_hour(min(parse_iso(options["end"], "end"), timezone.now()))
        chunk = options["chunk_hours"]
        if chunk < 1 or chunk > 24 * 31:
            raise CommandError("--chunk-hours must be between 1 and 744.")
        if end <= start:
            raise CommandError(
                "The period holds no whole past hour (end must be after start and not in the future)."
            )
        self._warn_closed(start, end)
        t, totals = start, [0, 0]
        while t < end:
            nxt = min(t + timedelta(hours=chunk), end)
            try:
                result = services.collect_gpu_usage(t, nxt)
            except services.ChargebackError as exc:
                raise CommandError(str(exc)) from exc
            except PrometheusError as exc:
                raise CommandError(
                    f"Prometheus at {settings.PROMETHEUS_URL or '(unset)'}: {exc}. "
                    f"Hours before {t.isoformat()} are stored; re-run from there."
                ) from exc
            totals[0] += result.rows
            totals[1] += result.deleted
            for (it, ct), seconds in result.unpriced.items():
                self.stderr.write(
                    f"warning: {seconds / 3600:.2f} GPU-hours on {it}/{ct} have no price"
                )
            self.stdout.write(f"{t:%Y-%m-%d %H:%M} .. {nxt:%Y-%m-%d %H:%M}: {result.rows} rows")
            t = nxt
        self.stdout.write(
            self.style.SUCCESS(
                f"Collected {start.isoformat()} .. {end.isoformat()}: "
                f"{totals[0]} rows written, {totals[1]} stale rows removed."
            )
        )

    def _warn_closed(self, start, end):
        closed = Chargeback.objects.filter(
            status=ChargebackStatus.CLOSED,
            month__gte=timeutil.month_start(start).date(),
            month__lt=end.date(),
        )
        for chargeback in closed:
            self.stderr.write(
                f"note: {chargeback.month:%Y-%m} is closed; its statements stay as issued "
                f"(re-open the month to issue a new version)."
            )
