"""`manage.py render_nodepools`: print the NodeClass and NodePools the worker applies."""

from django.core.management.base import BaseCommand, CommandError

from deployments.nodepools import manifests


class Command(BaseCommand):
    help = (
        "Print the Karpenter NodeClass and GPU NodePools (multi-document YAML) the portal "
        "applies, rendered from the catalog."
    )

    def handle(self, *args, **opts):
        try:
            text = manifests.to_yaml(manifests.render())
        except manifests.PoolError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(text, ending="")
