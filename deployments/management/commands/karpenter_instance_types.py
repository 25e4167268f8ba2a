"""`manage.py karpenter_instance_types [--output FILE]`: the KWOK provider's instance types.

The JSON Karpenter's KWOK cloud provider reads (``--instance-types-file-path``), made from the
same catalog rows as the NodePools: instance types, vCPUs, memory, GPUs and the price in force
per capacity type, so the test cluster's Karpenter launches exactly what the catalog prices.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from deployments.nodepools import manifests


class Command(BaseCommand):
    help = "Print (or write) the Karpenter KWOK provider's instance-types JSON from the catalog."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="write the JSON to this file instead of stdout")

    def handle(self, *args, **opts):
        try:
            types = manifests.kwok_instance_types()
        except manifests.PoolError as exc:
            raise CommandError(str(exc)) from exc
        if not types:
            raise CommandError("The catalog has no enabled, priced spot or on-demand offering.")
        text = json.dumps(types, indent=2) + "\n"
        if opts["output"]:
            Path(opts["output"]).write_text(text)
            self.stderr.write(f"{len(types)} instance types written to {opts['output']}")
        else:
            self.stdout.write(text, ending="")
