"""`manage.py close_month --month YYYY-MM [--reopen]`: freeze (or re-open) a month's statements.
Closing is idempotent: a closed month keeps its statements."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing import reports, services


class Command(BaseCommand):
    help = "Close a finished month (one immutable statement per team) or re-open it."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument(
            "--reopen",
            action="store_true",
            help="Re-open a closed month (next close = new version).",
        )

    def handle(self, *args, **options):
        try:
            month = reports.parse_month(options["month"], timezone.now())
            if options["reopen"]:
                chargeback = services.reopen_month(month)
                self.stdout.write(
                    f"Re-opened {month:%Y-%m}; the next close writes version {chargeback.version}."
                )
                return
            chargeback, statements = services.close_month(month)
        except (ValueError, services.ChargebackError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{month:%Y-%m} is closed (version {chargeback.version}, {len(statements)} statements)."
        )
