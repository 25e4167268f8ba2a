"""FilterSets for usage rows and statements (the API lists; the team page's month picker uses
the same `month` format)."""

import django_filters
from django import forms

from catalog.choices import CapacityType

from .models import Statement, UsageKind, UsageRecord


class UsageRecordFilterSet(django_filters.FilterSet):
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


class StatementFilterSet(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="team__slug", label="Team (slug)")
    month = django_filters.DateFilter(
        field_name="month",
        input_formats=["%Y-%m"],
        label="Month (YYYY-MM)",
        widget=forms.DateInput(format="%Y-%m"),
    )
    latest = django_filters.BooleanFilter(method="filter_latest", label="Only the current version")

    class Meta:
        model = Statement
        fields = ["team", "month", "latest"]

    def filter_latest(self, queryset, name, value):
        if not value:
            return queryset
        from django.db.models import F

        return queryset.filter(version=F("chargeback__version"))
