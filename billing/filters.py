"""FilterSets for usage rows and statements (the API lists; the team page's month picker uses
the same `month` format)."""

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from catalog.choices import CapacityType
from portal.filters import FilterSet

from .models import Statement, UsageKind, UsageRecord


class UsageRecordFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", label="Team (slug)")
    team_key = django_filters.CharFilter(label="Attributed team (label or namespace)")
    endpoint = django_filters.CharFilter(field_name="endpoint_key", label="Endpoint (label value)")
    kind = django_filters.ChoiceFilter(choices=UsageKind.choices)
    capacity_type = django_filters.ChoiceFilter(choices=CapacityType.choices)
    instance_type = django_filters.CharFilter()
    start = django_filters.IsoDateTimeFilter(
        field_name="hour", lookup_expr="gte", label="Hours from (ISO 8601)"
    )
    end = django_filters.IsoDateTimeFilter(
        field_name="hour", lookup_expr="lt", label="Hours before (ISO 8601)"
    )

    class Meta:
        model = UsageRecord
        fields = [
            "team",
            "team_key",
            "endpoint",
            "kind",
            "capacity_type",
            "instance_type",
            "start",
            "end",
        ]


# A month as the API reads and answers it (stored as its first day).
MONTH_SCHEMA = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "example": "2026-11"}


@extend_schema_field(MONTH_SCHEMA)
class MonthFilter(django_filters.DateFilter):
    def __init__(self, **kwargs):
        super().__init__(input_formats=["%Y-%m"], widget=forms.DateInput(format="%Y-%m"), **kwargs)


class StatementFilterSet(FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", label="Team (slug)")
    month = MonthFilter(field_name="month", label="Month (YYYY-MM)")
    latest = django_filters.BooleanFilter(method="filter_latest", label="Only the current version")

    class Meta:
        model = Statement
        fields = ["team", "month", "latest"]

    def filter_latest(self, queryset, name, value):
        if not value:
            return queryset
        from django.db.models import F

        return queryset.filter(version=F("chargeback__version"))
