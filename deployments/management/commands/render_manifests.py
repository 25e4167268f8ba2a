"""`manage.py render_manifests <endpoint uuid>`: print the exact YAML the worker applies."""

import uuid as uuid_lib

from django.core.management.base import BaseCommand, CommandError

from deployments.endpoints import manifests
from deployments.endpoints.models import Endpoint


class Command(BaseCommand):
    help = "Print the Kubernetes manifests (multi-document YAML) of an endpoint."

    def add_arguments(self, parser):
        parser.add_argument("endpoint", help="Endpoint UUID")

    def handle(self, *args, **opts):
        try:
            key = uuid_lib.UUID(opts["endpoint"])
        except ValueError as exc:
            raise CommandError(f"{opts['endpoint']!r} is not an endpoint UUID.") from exc
        endpoint = (
            Endpoint.objects.select_related("team", "model", "gpu_type", "offering")
            .filter(uuid=key)
            .first()
        )
        if endpoint is None:
            raise CommandError(f"No endpoint with UUID {key}.")
        try:
            self.stdout.write(manifests.manifest_yaml(endpoint), ending="")
        except manifests.ManifestError as exc:
            raise CommandError(str(exc)) from exc
