"""Serializers validate and represent; the viewsets call the services."""

import uuid as uuid_lib
from zoneinfo import available_timezones

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal import refcache
from portal.access import find_team
from portal.models import Team

from ..models import CatalogModel, Endpoint, EndpointEvent, GpuType, InstanceOffering
from ..services import SPEC_FIELDS


@extend_schema_field(OpenApiTypes.STR)
class CatalogRef(serializers.RelatedField):
    """Accepts a UUID or a human key (model slug / GPU type name); answers the human key.

    Look-ups are cached per process (portal.refcache) by model and key, so `queryset` must be
    the model's enabled rows, the same for every field of that model.
    """

    default_error_messages = {
        "does_not_exist": _("No enabled {kind} {value!r}. Use its UUID or {lookup} (see {hint})."),
        "invalid": _("Expected a UUID or a {lookup} string."),
    }

    def __init__(self, *, key: str, kind: str, hint: str, **kwargs):
        self.key, self.kind, self.hint = key, kind, hint
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.strip():
            self.fail("invalid", lookup=self.key)
        data = data.strip()
        try:
            lookup = {"uuid": uuid_lib.UUID(data)}
        except ValueError:
            lookup = {self.key: data}
        queryset = self.get_queryset()
        key = ("catalog-ref", queryset.model._meta.label_lower, *lookup.items())
        obj = refcache.cached(key, lambda: queryset.filter(**lookup).first())
        if obj is None:
            self.fail("does_not_exist", kind=self.kind, value=data, lookup=self.key, hint=self.hint)
        return obj

    def to_representation(self, value):
        return getattr(value, self.key)


class TeamRef(serializers.SlugRelatedField):
    """A team slug among the requesting user's teams (one query, which also reads the role)."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="slug", queryset=Team.objects.all(), **kwargs)

    def to_internal_value(self, data):
        request = self.context.get("request")
        if request is None:
            return super().to_internal_value(data)
        if not isinstance(data, str):
            self.fail("invalid")
        team = find_team(request.user, data)
        if team is None:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return team


class CatalogModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = CatalogModel
        fields = [
            "uuid",
            "name",
            "slug",
            "storage_uri",
            "parameters_b",
            "num_layers",
            "num_kv_heads",
            "head_dim",
            "native_context_length",
            "allowed_quantizations",
            "license",
            "enabled",
        ]
        read_only_fields = fields


class OfferingPriceSerializer(serializers.Serializer):
    capacity_type = serializers.CharField()
    hourly_price = serializers.DecimalField(
        max_digits=12, decimal_places=4, help_text="Price of one node per hour."
    )
    per_gpu_hour = serializers.DecimalField(max_digits=12, decimal_places=4)


class InstanceOfferingSerializer(serializers.ModelSerializer):
    prices = serializers.SerializerMethodField(help_text="Prices in force now, per capacity type.")

    class Meta:
        model = InstanceOffering
        fields = ["instance_type", "gpus_per_node", "node_labels", "enabled", "prices"]

    @extend_schema_field(OfferingPriceSerializer(many=True))
    def get_prices(self, offering) -> list[dict]:
        rates = self.context.get("rates", {})
        rows = [
            {
                "capacity_type": ctype,
                "hourly_price": price,
                "per_gpu_hour": price / offering.gpus_per_node,
            }
            for (oid, ctype), price in sorted(rates.items(), key=lambda item: item[0][1])
            if oid == offering.pk
        ]
        return OfferingPriceSerializer(rows, many=True).data


class GpuTypeSerializer(serializers.ModelSerializer):
    offerings = InstanceOfferingSerializer(many=True, read_only=True)

    class Meta:
        model = GpuType
        fields = ["uuid", "name", "memory_gib", "node_label_value", "enabled", "offerings"]


class EndpointSerializer(serializers.ModelSerializer):
    team = TeamRef(help_text="Team slug. Cannot be changed after the request.")
    model = CatalogRef(
        key="slug",
        kind="catalog model",
        hint="/api/v1/models/",
        queryset=CatalogModel.objects.filter(enabled=True),
        help_text="Catalog model: its UUID or slug (e.g. `llama-3-1-8b-instruct`).",
    )
    gpu_type = CatalogRef(
        key="name",
        kind="GPU type",
        hint="/api/v1/gpu-types/",
        queryset=GpuType.objects.filter(enabled=True),
        help_text="GPU type: its UUID or name (e.g. `L4`, `H100`).",
    )
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    instance_type = serializers.CharField(
        source="offering.instance_type", read_only=True, default=None, allow_null=True
    )
    url = serializers.URLField(
        read_only=True, help_text="Inference URL once the endpoint is ready."
    )

    class Meta:
        model = Endpoint
        fields = [
            "uuid",
            "team",
            "name",
            *SPEC_FIELDS,
            "instance_type",
            "desired_state",
            "generation",
            "applied_generation",
            "status",
            "status_message",
            "url",
            "monthly_cost_min",
            "monthly_cost_max",
            "requested_by",
            "approved_by",
            "approved_at",
            "created_at",
            "updated_at",
            "status_changed_at",
            "ready_at",
            "deleted_at",
        ]
        read_only_fields = [
            "uuid",
            "desired_state",
            "generation",
            "applied_generation",
            "status",
            "status_message",
            "url",
            "monthly_cost_min",
            "monthly_cost_max",
            "approved_at",
            "created_at",
            "updated_at",
            "status_changed_at",
            "ready_at",
            "deleted_at",
        ]
        # (team, name) uniqueness is checked by the service with a clear message.
        validators: list = []

    def validate(self, attrs):
        if self.instance is not None:
            for field in ("team", "name"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError(
                        {field: f"The {field} of an endpoint cannot be changed; request a new one."}
                    )
        merged = {f: attrs.get(f, getattr(self.instance, f, None)) for f in SPEC_FIELDS}
        errors = {}
        low, high = merged.get("min_replicas"), merged.get("max_replicas")
        if low is not None and high is not None and low > high:
            errors["min_replicas"] = "Minimum replicas cannot be above maximum replicas."
        model, quant = merged.get("model"), merged.get("quantization")
        if model and quant and quant not in (model.allowed_quantizations or []):
            errors["quantization"] = (
                f"{model.name} allows {', '.join(model.allowed_quantizations)}, not {quant}."
            )
        context = merged.get("max_context_length")
        if model and context and context > model.native_context_length:
            errors["max_context_length"] = (
                f"{model.name} supports at most {model.native_context_length} tokens of context."
            )
        zone = attrs.get("schedule_timezone")
        if zone and zone not in available_timezones():
            errors["schedule_timezone"] = (
                f"Unknown time zone {zone!r}; use an IANA name such as Europe/Berlin."
            )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class EndpointEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = EndpointEvent
        fields = [
            "created_at",
            "kind",
            "old_status",
            "new_status",
            "message",
            "generation",
            "duration_seconds",
            "actor",
        ]


class EndpointScaleSerializer(serializers.Serializer):
    min_replicas = serializers.IntegerField(min_value=0, max_value=100)
    max_replicas = serializers.IntegerField(min_value=1, max_value=100)

    def validate(self, attrs):
        if attrs["min_replicas"] > attrs["max_replicas"]:
            raise serializers.ValidationError(
                {"min_replicas": "Minimum replicas cannot be above maximum replicas."}
            )
        return attrs


class EndpointRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why; shown to the requester.")
