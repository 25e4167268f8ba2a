"""REST representations of the catalog, and the reference field other apps' serializers use
to name a catalog row."""

import uuid as uuid_lib

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import cache
from ..models import CatalogModel, GpuType, InstanceOffering


@extend_schema_field(OpenApiTypes.STR)
class CatalogRef(serializers.RelatedField):
    """Accepts a UUID or a human key (model slug / GPU type name); answers the human key.

    Look-ups are cached per process (catalog.cache) by model and key, so `queryset` must be
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
        obj = cache.cached(key, lambda: queryset.filter(**lookup).first())
        if obj is None:
            self.fail("does_not_exist", kind=self.kind, value=data, lookup=self.key, hint=self.hint)
        return obj

    def to_representation(self, value):
        return getattr(value, self.key)


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
