"""`manage.py render_batch_job <uuid>`: print the exact YAML the worker applies for a batch job."""

import uuid as uuid_lib

from django.core.management.base import BaseCommand, CommandError

from deployments.batch import manifests
from deployments.batch.models import BatchJob
from deployments.endpoints.manifests import ManifestError


class Command(BaseCommand):
    help = "Print the Kubernetes manifests (multi-document YAML) of a batch job's current run."

    def add_arguments(self, parser):
        parser.add_argument("batch_job", help="Batch job UUID")

    def handle(self, *args, **opts):
        try:
            key = uuid_lib.UUID(opts["batch_job"])
        except ValueError as exc:
            raise CommandError(f"{opts['batch_job']!r} is not a batch job UUID.") from exc
        job = (
            BatchJob.objects.select_related("team", "model", "gpu_type", "offering")
            .filter(uuid=key)
            .first()
        )
        if job is None:
            raise CommandError(f"No batch job with UUID {key}.")
        try:
            self.stdout.write(manifests.manifest_yaml(job), ending="")
        except ManifestError as exc:
            raise CommandError(str(exc)) from exc
