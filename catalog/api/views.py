"""REST: the model catalog and GPU types with their offerings and prices in force (read-only;
staff also see disabled rows)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from ..models import CatalogModel, GpuType
from ..pricing import current_rates
from .serializers import CatalogModelSerializer, GpuTypeSerializer


@extend_schema_view(
    list=extend_schema(summary="The model catalog"),
    retrieve=extend_schema(summary="Get a catalog model"),
)
class CatalogModelViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CatalogModelSerializer
    lookup_field = "uuid"
    filterset_fields = ["slug", "enabled"]

    def get_queryset(self):
        qs = CatalogModel.objects.all()
        return qs if self.request.user.is_staff else qs.filter(enabled=True)


@extend_schema_view(
    list=extend_schema(summary="GPU types with offerings and current prices"),
    retrieve=extend_schema(summary="Get a GPU type"),
)
class GpuTypeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = GpuTypeSerializer
    lookup_field = "uuid"
    filterset_fields = ["name", "enabled"]

    def get_queryset(self):
        qs = GpuType.objects.prefetch_related("offerings")
        return qs if self.request.user.is_staff else qs.filter(enabled=True)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "rates": current_rates()}
