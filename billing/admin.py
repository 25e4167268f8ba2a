"""Price table in the platform console. A price change is a new GpuRate row (history kept)."""

from django.contrib import admin

from portal.admin import AuditedModelAdmin

from .models import GpuRate


class GpuRateInline(admin.TabularInline):
    """Prices of an instance offering, edited on the offering's admin page."""

    model = GpuRate
    extra = 0
    fields = ["capacity_type", "hourly_price", "effective_from"]
    ordering = ["capacity_type", "-effective_from"]


@admin.register(GpuRate)
class GpuRateAdmin(AuditedModelAdmin):
    list_display = ["offering", "gpu_type", "capacity_type", "hourly_price", "per_gpu_hour",
                    "effective_from"]
    list_filter = ["capacity_type", "offering__gpu_type"]
    search_fields = ["offering__instance_type"]
    list_select_related = ["offering__gpu_type"]
    date_hierarchy = "effective_from"

    @admin.display(description="GPU type", ordering="offering__gpu_type__name")
    def gpu_type(self, obj):
        return obj.offering.gpu_type

    @admin.display(description="Per GPU-hour")
    def per_gpu_hour(self, obj):
        return obj.per_gpu_hour.quantize(obj.hourly_price.__class__("0.0001"))
