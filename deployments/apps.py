from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        from portal import refcache

        from .models import CatalogModel, GpuType, InstanceOffering

        refcache.watch(CatalogModel, GpuType, InstanceOffering)
