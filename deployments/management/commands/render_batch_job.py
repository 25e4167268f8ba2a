"""`manage.py render_batch_job <uuid>`: print the exact YAML the worker applies for a batch job."""

from deployments.batch import manifests
from deployments.batch.models import BatchJob
from deployments.endpoints.manifests import ManifestError
from deployments.management.render import RenderCommand


class Command(RenderCommand):
    help = "Print the Kubernetes manifests (multi-document YAML) of a batch job's current run."
    noun, a_noun = "batch job", "a batch job"
    render_errors = (ManifestError,)

    def load(self, key):
        related = ("team", "model", "gpu_type", "offering")
        return BatchJob.objects.select_related(*related).filter(uuid=key).first()

    def render_yaml(self, job) -> str:
        return manifests.manifest_yaml(job)
