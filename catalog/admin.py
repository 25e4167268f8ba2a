"""The catalog in the platform console: models, GPU types, instance offerings and their
prices. A price change is a new GpuRate row (history kept)."""

from django import forms
from django.contrib import admin

from portal.admin import AuditedModelAdmin

from .choices import Quantization
from .models import CatalogModel, GpuRate, GpuType, InstanceOffering
from .pricing import to_unit_price


class GpuRateInline(admin.TabularInline):
    """Prices of an instance offering, edited on the offering's admin page."""

    model = GpuRate
    extra = 0
    fields = ["capacity_type", "hourly_price", "effective_from"]
    ordering = ["capacity_type", "-effective_from"]


@admin.register(GpuRate)
class GpuRateAdmin(AuditedModelAdmin):
    list_display = [
        "offering",
        "gpu_type",
        "capacity_type",
        "hourly_price",
        "per_gpu_hour",
        "effective_from",
    ]
    list_filter = ["capacity_type", "offering__gpu_type"]
    search_fields = ["offering__instance_type"]
    list_select_related = ["offering__gpu_type"]
    date_hierarchy = "effective_from"

    @admin.display(description="GPU type", ordering="offering__gpu_type__name")
    def gpu_type(self, obj):
        return obj.offering.gpu_type

    @admin.display(description="Per GPU-hour")
    def per_gpu_hour(self, obj):
        return to_unit_price(obj.per_gpu_hour)


class CatalogModelForm(forms.ModelForm):
    allowed_quantizations = forms.MultipleChoiceField(
        choices=Quantization.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Precisions teams may serve this model in.",
    )

    class Meta:
        model = CatalogModel
        fields = [
            "name",
            "slug",
            "storage_uri",
            "quantized_storage_uris",
            "gated",
            "license",
            "enabled",
            "parameters_b",
            "num_layers",
            "num_attention_heads",
            "num_kv_heads",
            "head_dim",
            "native_context_length",
            "allowed_quantizations",
        ]


@admin.register(CatalogModel)
class CatalogModelAdmin(AuditedModelAdmin):
    form = CatalogModelForm
    list_display = ["name", "slug", "parameters_b", "native_context_length", "license", "enabled"]
    list_filter = ["enabled", "license"]
    search_fields = ["name", "slug", "storage_uri"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "storage_uri", "gated", "license", "enabled"]}),
        (
            "Architecture (for sizing)",
            {
                "fields": [
                    "parameters_b",
                    "num_layers",
                    "num_attention_heads",
                    "num_kv_heads",
                    "head_dim",
                    "native_context_length",
                ]
            },
        ),
        ("Serving", {"fields": ["allowed_quantizations", "quantized_storage_uris"]}),
    ]


class InstanceOfferingInline(admin.TabularInline):
    model = InstanceOffering
    extra = 0
    fields = ["instance_type", "gpus_per_node", "vcpus", "memory_gib", "node_labels", "enabled"]
    show_change_link = True


@admin.register(GpuType)
class GpuTypeAdmin(AuditedModelAdmin):
    list_display = ["name", "memory_gib", "node_label_value", "max_gpus_per_pool", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name"]
    inlines = [InstanceOfferingInline]


@admin.register(InstanceOffering)
class InstanceOfferingAdmin(AuditedModelAdmin):
    list_display = ["instance_type", "gpu_type", "gpus_per_node", "vcpus", "memory_gib", "enabled"]
    list_filter = ["gpu_type", "enabled"]
    search_fields = ["instance_type"]
    list_select_related = ["gpu_type"]
    inlines = [GpuRateInline]
