from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from deployments.workloads.spend import register_spend_source

        from . import tasks  # noqa: F401  (registers the tasks by name)
        from .services import month_to_date_cost

        register_spend_source(month_to_date_cost)
