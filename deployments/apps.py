from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        from . import observability, tasks  # noqa: F401  (registers the tasks by name)
        from .batch import tasks as batch_tasks  # noqa: F401
        from .routing import tasks as route_tasks  # noqa: F401

        observability.register()
