from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from . import cache
        from .models import CatalogModel, GpuRate, GpuType, InstanceOffering

        cache.watch(CatalogModel, GpuType, InstanceOffering, GpuRate)
