"""`manage.py render_route <route uuid>`: print the exact objects the worker applies (YAML)."""

from deployments.endpoints.manifests import to_yaml
from deployments.management.render import RenderCommand
from deployments.routing import manifests, reconcile
from deployments.routing.models import Route


class Command(RenderCommand):
    help = "Print the Envoy Gateway objects (multi-document YAML) of a model route."
    noun, a_noun = "route", "a route"
    render_errors = (manifests.ManifestError,)

    def load(self, key):
        route = Route.objects.filter(uuid=key).first()
        return None if route is None else reconcile.load(route.pk)

    def render_yaml(self, route) -> str:
        return to_yaml(reconcile.rendered(route))
