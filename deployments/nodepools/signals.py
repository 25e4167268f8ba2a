"""A catalog change (GPU type, offering, price) re-applies the node pools once it commits."""

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from catalog.models import GpuRate, GpuType, InstanceOffering
from deployments.nodepools.names import APPLY_NODEPOOLS
from portal.jobs import enqueue_on_commit


def _catalog_changed(sender, **kwargs) -> None:
    if settings.KARPENTER_NODEPOOLS:
        enqueue_on_commit(APPLY_NODEPOOLS)


def connect() -> None:
    for model in (GpuType, InstanceOffering, GpuRate):
        uid = f"nodepools-{model._meta.label_lower}"
        post_save.connect(_catalog_changed, sender=model, dispatch_uid=uid + "-save")
        post_delete.connect(_catalog_changed, sender=model, dispatch_uid=uid + "-delete")
