"""The one `manage.py render_<product> <uuid>` command: print the exact YAML the worker applies.

A product's command names its row (`noun`, with its article for the error) and says how to
load the row and render its YAML; the UUID parsing, the not-found error and turning a render
error into a CommandError are written once here.
"""

import uuid as uuid_lib

from django.core.management.base import BaseCommand, CommandError


class RenderCommand(BaseCommand):
    noun = ""  # "endpoint"
    a_noun = ""  # "an endpoint"
    render_errors: tuple[type[Exception], ...] = ()

    def load(self, key: uuid_lib.UUID):
        raise NotImplementedError

    def render_yaml(self, obj) -> str:
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("uuid", metavar=self.noun.replace(" ", "_"), help=f"{self.noun} UUID")

    def handle(self, *args, **opts):
        try:
            key = uuid_lib.UUID(opts["uuid"])
        except ValueError as exc:
            raise CommandError(f"{opts['uuid']!r} is not {self.a_noun} UUID.") from exc
        obj = self.load(key)
        if obj is None:
            raise CommandError(f"No {self.noun} with UUID {key}.")
        try:
            text = self.render_yaml(obj)
        except self.render_errors as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(text, ending="")
