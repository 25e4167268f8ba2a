from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        # Each product registers its tasks (by name) and its admin pages.
        from deployments.batch import admin as batch_admin  # noqa: F401
        from deployments.batch import tasks as batch_tasks  # noqa: F401
        from deployments.endpoints import admin as endpoint_admin  # noqa: F401
        from deployments.endpoints import observability
        from deployments.endpoints import tasks as endpoint_tasks  # noqa: F401
        from deployments.nodepools import signals as nodepool_signals
        from deployments.nodepools import tasks as nodepool_tasks  # noqa: F401
        from deployments.routing import admin as route_admin  # noqa: F401
        from deployments.routing import tasks as route_tasks  # noqa: F401

        observability.register()
        nodepool_signals.connect()
