from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from portal import refcache

        from .models import GpuRate

        refcache.watch(GpuRate)
