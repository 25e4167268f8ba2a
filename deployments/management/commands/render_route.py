"""`manage.py render_route <route uuid>`: print the exact objects the worker applies (YAML)."""

import uuid as uuid_lib

from django.core.management.base import BaseCommand, CommandError

from deployments.endpoints.manifests import to_yaml
from deployments.routing import manifests, reconcile
from deployments.routing.models import Route


class Command(BaseCommand):
    help = "Print the Envoy Gateway objects (multi-document YAML) of a model route."

    def add_arguments(self, parser):
        parser.add_argument("route", help="Route UUID")

    def handle(self, *args, **opts):
        try:
            key = uuid_lib.UUID(opts["route"])
        except ValueError as exc:
            raise CommandError(f"{opts['route']!r} is not a route UUID.") from exc
        route = Route.objects.filter(uuid=key).first()
        if route is None:
            raise CommandError(f"No route with UUID {key}.")
        try:
            objects = reconcile.rendered(reconcile.load(route.pk))
        except manifests.ManifestError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(to_yaml(objects), ending="")
