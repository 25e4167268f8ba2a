"""manage.py create_api_token USERNAME [--name NAME] [--expires-in-days N]

For the platform team: a REST API token for a user, printed once on stdout (only the key, so
`KEY=$(manage.py create_api_token ci-bot)` works); only its hash is stored. If the user already
has a live token of that name nothing is created, a note goes to stderr and the exit status is 0
(safe to run twice); the existing key cannot be shown again, revoke it to get a new one.
"""

from django.core.management.base import BaseCommand, CommandError

from portal import tokens
from portal.models import AuditLog, User

MAX_EXPIRY_DAYS = 3650


class Command(BaseCommand):
    help = "Create a REST API token for a user unless one of that name exists; prints the key once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="automation", help="token name (default: automation)")
        parser.add_argument(
            "--expires-in-days", type=int, default=None, help="expiry in days (default: never)"
        )

    def handle(self, *args, username, name, expires_in_days, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
            raise CommandError(f"--expires-in-days must be between 1 and {MAX_EXPIRY_DAYS}.")
        try:
            _token, key = tokens.create_token(
                user,
                name,
                expires_at=tokens.expires_after(expires_in_days),
                source=AuditLog.Source.SYSTEM,
            )
        except tokens.TokenNameTaken as exc:
            self.stderr.write(f"{exc} Not created (its key cannot be shown again).")
            return
        self.stdout.write(key)
