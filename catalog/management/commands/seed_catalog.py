from django.core.management.base import BaseCommand

from ...seed import seed_catalog


class Command(BaseCommand):
    help = (
        "Seed GPU types, AWS instance offerings with placeholder prices (spot = 40% and "
        "reserved = 62% of on-demand, not quotes) and catalog models. Safe to run again."
    )

    def handle(self, *args, **options):
        created = seed_catalog()
        self.stdout.write(
            self.style.SUCCESS(
                "Catalog seeded: " + ", ".join(f"{n} new {k}" for k, n in created.items())
            )
        )
