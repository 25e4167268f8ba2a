"""Platform console: all endpoints.

Endpoints are read-only here: approve, reject and delete go through the services
(source=admin) so the events, audit log and the apply task follow as in the other faces.
"""

from django.contrib import admin, messages
from django.db import models

from deployments.endpoints import modelcaches, services
from deployments.endpoints.models import ColdStart, Endpoint, EndpointEvent, ModelCache
from deployments.endpoints.names import APPLY_MODEL_CACHES
from deployments.endpoints.page import status_badge
from deployments.workloads.admin import WorkloadActionsMixin
from portal import jobs
from portal.admin import ReadOnlyModelAdmin
from portal.models import AuditLog

ADMIN = AuditLog.Source.ADMIN


class EndpointEventInline(admin.TabularInline):
    model = EndpointEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "old_status", "new_status", "message", "actor"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Endpoint)
class EndpointAdmin(WorkloadActionsMixin, admin.ModelAdmin):
    noun = "endpoint"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "team",
        "badge",
        "model",
        "gpus",
        "replicas",
        "capacity_type",
        "spot_fallback_on_demand",
        "monthly_cost_max",
        "updated_at",
    ]
    list_filter = ["status", "team", "gpu_type", "capacity_type", "desired_state"]
    search_fields = ["name", "team__slug", "model__name", "uuid"]
    list_select_related = ["team", "model", "gpu_type"]
    actions = [
        "approve_selected",
        "reject_selected",
        "allow_spot_fallback",
        "disallow_spot_fallback",
        "delete_selected_endpoints",
    ]
    inlines = [EndpointEventInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False  # endpoints are requested through the portal or the API

    def has_change_permission(self, request, obj=None):
        return False  # read-only; use the actions

    def has_delete_permission(self, request, obj=None):
        return False  # deletion must go through the cluster: use the action

    @admin.display(description="Status", ordering="status")
    def badge(self, obj):
        return status_badge(obj.status)

    @admin.display(description="GPUs")
    def gpus(self, obj):
        return f"{obj.gpu_count}× {obj.gpu_type.name}"

    @admin.display(description="Replicas")
    def replicas(self, obj):
        return f"{obj.min_replicas}–{obj.max_replicas}"

    @admin.action(description="Approve selected pending requests")
    def approve_selected(self, request, queryset):
        self.run_each(request, queryset, services.approve_endpoint, "Approved")

    @admin.action(description="Reject selected pending requests")
    def reject_selected(self, request, queryset):
        self.run_each(
            request,
            queryset,
            services.reject_endpoint,
            "Rejected",
            reason="Rejected by the platform team.",
        )

    @admin.action(description="Spot endpoints: allow falling back to on-demand capacity")
    def allow_spot_fallback(self, request, queryset):
        self.run_each(
            request, queryset, services.set_spot_fallback, "Fallback allowed for", allowed=True
        )

    @admin.action(description="Spot endpoints: spot capacity only (no on-demand fallback)")
    def disallow_spot_fallback(self, request, queryset):
        self.run_each(
            request, queryset, services.set_spot_fallback, "Fallback removed for", allowed=False
        )

    @admin.action(description="Delete selected endpoints (removes them from the cluster)")
    def delete_selected_endpoints(self, request, queryset):
        self.run_each(request, queryset, services.delete_endpoint, "Deleting")


@admin.register(EndpointEvent)
class EndpointEventAdmin(ReadOnlyModelAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "kind",
        "old_status",
        "new_status",
        "message",
        "actor",
    ]
    list_filter = ["kind", "new_status"]
    search_fields = ["endpoint__name", "message"]
    list_select_related = ["endpoint__team", "actor"]
    date_hierarchy = "created_at"


@admin.register(ModelCache)
class ModelCacheAdmin(admin.ModelAdmin):
    """Cache a catalog model on a GPU type's nodes: saving or deleting a row pushes every
    LocalModelNodeGroup and LocalModelCache (deployments.endpoints.modelcaches)."""

    list_display = ["model", "quantization", "gpu_type", "applied_at", "status_message"]
    list_select_related = ["model", "gpu_type"]
    fields = ["model", "quantization", "gpu_type", "applied_at", "status_message"]
    readonly_fields = ["applied_at", "status_message"]
    actions = ["apply_again"]

    def save_model(self, request, obj, form, change):
        cache = modelcaches.cache_model(obj.model, obj.gpu_type, obj.quantization)
        obj.pk = cache.pk

    def delete_model(self, request, obj):
        modelcaches.uncache_model(obj)

    def delete_queryset(self, request, queryset):
        for cache in queryset:
            modelcaches.uncache_model(cache)

    @admin.action(description="Apply the model caches to the cluster again")
    def apply_again(self, request, queryset):
        jobs.enqueue(APPLY_MODEL_CACHES)
        self.message_user(request, "Model caches queued for apply.", messages.SUCCESS)


@admin.register(ColdStart)
class ColdStartAdmin(ReadOnlyModelAdmin):
    list_display = ["engine_ready_at", "endpoint", "model", "gpu_type", "seconds", "accepted"]
    list_filter = ["accepted", "cached", "node_launched", "gpu_type"]
    list_select_related = ["endpoint__team", "model", "gpu_type"]
    search_fields = ["endpoint__name", "pod_name", "note"]
