"""`manage.py render_manifests <endpoint uuid>`: print the exact YAML the worker applies."""

from deployments.endpoints import manifests
from deployments.endpoints.models import Endpoint
from deployments.management.render import RenderCommand


class Command(RenderCommand):
    help = "Print the Kubernetes manifests (multi-document YAML) of an endpoint."
    noun, a_noun = "endpoint", "an endpoint"
    render_errors = (manifests.ManifestError,)

    def load(self, key):
        related = ("team", "model", "gpu_type", "offering")
        return Endpoint.objects.select_related(*related).filter(uuid=key).first()

    def render_yaml(self, endpoint) -> str:
        return manifests.manifest_yaml(endpoint)
