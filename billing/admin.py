"""Chargeback in the platform console: usage rows, policy, reference prices, months, statements
and budget alerts (read-only where the collector or month close writes them)."""

from django.contrib import admin

from portal.admin import AuditedModelAdmin, ReadOnlyModelAdmin

from .models import (
    BillingPolicy,
    BudgetAlert,
    Chargeback,
    ReferencePrice,
    SavingsDismissal,
    Statement,
    UsageRecord,
)


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyModelAdmin):
    list_display = [
        "hour",
        "kind",
        "team_key",
        "endpoint_key",
        "instance_type",
        "capacity_type",
        "gpu_seconds",
        "used_gpu_seconds",
        "cost",
        "unpriced_gpu_seconds",
    ]
    list_filter = ["kind", "capacity_type", "instance_type"]
    search_fields = ["team_key", "endpoint_key"]
    date_hierarchy = "hour"


@admin.register(BillingPolicy)
class BillingPolicyAdmin(AuditedModelAdmin):
    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request):
        return not BillingPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReferencePrice)
class ReferencePriceAdmin(AuditedModelAdmin):
    list_display = ["name", "input_per_million", "output_per_million", "is_default"]


@admin.register(Chargeback)
class ChargebackAdmin(ReadOnlyModelAdmin):
    """Close and re-open months on the platform cost page (a compare-and-set, audited)."""

    list_display = ["month", "status", "version", "closed_at", "closed_by"]


@admin.register(Statement)
class StatementAdmin(ReadOnlyModelAdmin):
    list_display = ["team", "month", "version", "total_cost", "currency", "created_at"]
    list_filter = ["month"]
    search_fields = ["team__name", "team__slug"]
    list_select_related = ["team"]


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyModelAdmin):
    list_display = [
        "team",
        "month",
        "threshold",
        "spend",
        "budget",
        "email_sent_at",
        "webhook_sent_at",
        "notify_error",
    ]
    list_filter = ["threshold", "month"]
    list_select_related = ["team"]


@admin.register(SavingsDismissal)
class SavingsDismissalAdmin(ReadOnlyModelAdmin):
    """Who dismissed which savings suggestion (written by the advisor page and API)."""

    list_display = ["team", "endpoint", "kind", "monthly_saving", "dismissed_by", "dismissed_at"]
    list_filter = ["kind"]
    list_select_related = ["team", "endpoint", "dismissed_by"]
