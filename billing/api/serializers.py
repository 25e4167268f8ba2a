"""Chargeback API shapes. Money is a decimal string, GPU time integer seconds plus hours."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..filters import MONTH_SCHEMA
from ..models import Statement, UsageRecord


class UsageRecordSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    endpoint = serializers.SlugRelatedField(slug_field="uuid", read_only=True)
    cost = serializers.DecimalField(max_digits=16, decimal_places=6, read_only=True)

    class Meta:
        model = UsageRecord
        fields = [
            "hour",
            "kind",
            "team",
            "team_key",
            "endpoint",
            "endpoint_key",
            "instance_type",
            "capacity_type",
            "gpu_type",
            "gpu_seconds",
            "used_gpu_seconds",
            "unpriced_gpu_seconds",
            "cost",
            "prompt_tokens",
            "generation_tokens",
            "collected_at",
        ]
        read_only_fields = fields


class StatementLineSerializer(serializers.Serializer):
    endpoint = serializers.CharField()
    gpu_type = serializers.CharField()
    instance_type = serializers.CharField()
    capacity_type = serializers.CharField()
    gpu_seconds = serializers.IntegerField()
    unpriced_gpu_seconds = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.CharField(help_text="Decimal string, full precision.")


@extend_schema_field(MONTH_SCHEMA)
class YearMonthField(serializers.DateField):
    """A month as YYYY-MM (the first day of the month, stored as a date)."""

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m", **kwargs)


class StatementSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    month = YearMonthField(read_only=True)
    lines = StatementLineSerializer(many=True, read_only=True)
    is_current = serializers.SerializerMethodField()
    csv_url = serializers.SerializerMethodField()
    completeness = serializers.DecimalField(
        max_digits=7,
        decimal_places=6,
        read_only=True,
        allow_null=True,
        help_text="Share of the month's hours with collected usage when the statement was "
        "written (hours_collected / hours_in_month); null on statements from before it was "
        "recorded.",
    )

    class Meta:
        model = Statement
        fields = [
            "uuid",
            "team",
            "month",
            "version",
            "is_current",
            "currency",
            "gpu_seconds",
            "unpriced_gpu_seconds",
            "usage_cost",
            "idle_share_cost",
            "total_cost",
            "idle_policy",
            "lines",
            "hours_collected",
            "hours_in_month",
            "completeness",
            "created_at",
            "csv_url",
        ]
        read_only_fields = fields

    def get_is_current(self, obj) -> bool:
        return obj.version == obj.chargeback.version

    def get_csv_url(self, obj) -> str:
        from django.urls import reverse

        url = reverse("billing:statement_csv", args=[obj.uuid])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class TallySerializer(serializers.Serializer):
    gpu_seconds = serializers.IntegerField()
    gpu_hours = serializers.DecimalField(max_digits=16, decimal_places=6)
    cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    unpriced_gpu_seconds = serializers.IntegerField()
    used_gpu_seconds = serializers.IntegerField(
        help_text="Busy GPU time from DCGM (where measured)."
    )
    busy_share = serializers.DecimalField(max_digits=8, decimal_places=6, allow_null=True)
    waste_gpu_hours = serializers.DecimalField(max_digits=16, decimal_places=6, allow_null=True)
    keep_warm_cost = serializers.DecimalField(max_digits=16, decimal_places=6, allow_null=True)
    served_cost = serializers.DecimalField(max_digits=16, decimal_places=6, allow_null=True)
    prompt_tokens = serializers.IntegerField()
    generation_tokens = serializers.IntegerField()
    cost_per_million_tokens = serializers.DecimalField(
        max_digits=16, decimal_places=6, allow_null=True
    )
    served_cost_per_million_tokens = serializers.DecimalField(
        max_digits=16, decimal_places=6, allow_null=True
    )
    gpu_seconds_by_capacity_type = serializers.DictField(
        child=serializers.IntegerField(), source="by_capacity_type"
    )


class EndpointCostSerializer(TallySerializer):
    endpoint = serializers.CharField(source="key", help_text="Endpoint label value ('' = none).")
    endpoint_uuid = serializers.UUIDField(allow_null=True)


class OfferingCostSerializer(TallySerializer):
    gpu_type = serializers.CharField()
    instance_type = serializers.CharField()
    capacity_type = serializers.CharField()


class DayCostSerializer(serializers.Serializer):
    day = serializers.DateField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=6)


class TeamCostsSerializer(serializers.Serializer):
    team = serializers.CharField()
    month = serializers.CharField()
    currency = serializers.CharField()
    is_current_month = serializers.BooleanField()
    spent = serializers.DecimalField(
        max_digits=16, decimal_places=6, help_text="Usage + idle share."
    )
    idle_share_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    forecast = serializers.DecimalField(
        max_digits=16, decimal_places=6, help_text="Month-end forecast."
    )
    budget = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    budget_alert_threshold = serializers.IntegerField(allow_null=True)
    total = TallySerializer()
    endpoints = EndpointCostSerializer(many=True)
    offerings = OfferingCostSerializer(many=True)
    days = DayCostSerializer(many=True)
    reference_price = serializers.CharField(allow_null=True)
    reference_cost = serializers.DecimalField(
        max_digits=16,
        decimal_places=6,
        allow_null=True,
        help_text="What the same tokens would cost at the reference API.",
    )


class PlatformTeamSerializer(TallySerializer):
    team = serializers.CharField(source="key")
    in_portal = serializers.BooleanField()
    idle_share_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    total_cost = serializers.DecimalField(max_digits=16, decimal_places=6)


class PlatformCostsSerializer(serializers.Serializer):
    month = serializers.CharField()
    currency = serializers.CharField()
    idle_policy = serializers.CharField()
    status = serializers.CharField(help_text="open or closed")
    version = serializers.IntegerField()
    total_cost = serializers.DecimalField(max_digits=16, decimal_places=6)
    spot_share = serializers.DecimalField(max_digits=8, decimal_places=6, allow_null=True)
    allocated = TallySerializer()
    idle = TallySerializer()
    teams = PlatformTeamSerializer(many=True)
    unpriced = serializers.ListField(child=serializers.DictField())
