from django.apps import AppConfig


class WebConfig(AppConfig):
    """The top layer: the root URLconf, the pages that combine apps (the overview) and the
    demo data. Nothing imports it."""

    name = "web"
    verbose_name = "Web"
