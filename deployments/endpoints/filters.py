"""One FilterSet for the endpoint list page and GET /api/v1/endpoints/ (NetBox style)."""

import django_filters
from django.db.models import Q

from catalog.choices import CapacityType
from catalog.models import CatalogModel, GpuType
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.models import Endpoint
from portal.filters import FilterSet


class EndpointFilterSet(FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.MultipleChoiceFilter(choices=EndpointStatus.choices)
    model = django_filters.ModelChoiceFilter(
        queryset=CatalogModel.objects.all(),
        to_field_name="slug",
        label="Model",
        empty_label="Any model",
    )
    gpu_type = django_filters.ModelChoiceFilter(
        queryset=GpuType.objects.all(),
        to_field_name="name",
        label="GPU type",
        empty_label="Any GPU type",
    )
    capacity_type = django_filters.ChoiceFilter(choices=CapacityType.choices)
    team = django_filters.CharFilter(field_name="team__slug", label="Team (slug)")
    include_deleted = django_filters.BooleanFilter(
        method="filter_deleted", label="Include deleted endpoints"
    )

    class Meta:
        model = Endpoint
        fields = ["q", "status", "model", "gpu_type", "capacity_type", "team"]

    def __init__(self, data=None, *args, **kwargs):
        # The page's "Any status" option (and every HTMX filter change) sends status="": an
        # empty choice means no status filter, not an invalid one.
        if data is not None and hasattr(data, "getlist") and "status" in data:
            data = data.copy()
            data.setlist("status", [v for v in data.getlist("status") if v])
        super().__init__(data, *args, **kwargs)

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(model__name__icontains=value)
            | Q(status_message__icontains=value)
        )

    def filter_deleted(self, queryset, name, value):
        return queryset  # handled in `qs` so that the default hides deleted rows

    @property
    def qs(self):
        queryset = super().qs
        data = getattr(self.form, "cleaned_data", {}) if self.is_bound else {}
        if not data.get("include_deleted") and EndpointStatus.DELETED not in (
            data.get("status") or []
        ):
            queryset = queryset.exclude(status=EndpointStatus.DELETED)
        return queryset
