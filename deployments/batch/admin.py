"""Platform console: batch jobs (read-only; cancel and delete go through the services)."""

from django.contrib import admin

from deployments.batch import services
from deployments.batch.choices import batch_status_badge
from deployments.batch.models import BatchJob, BatchJobEvent
from deployments.workloads.admin import WorkloadActionsMixin
from portal.admin import ReadOnlyModelAdmin
from portal.models import AuditLog

ADMIN = AuditLog.Source.ADMIN


class BatchJobEventInline(admin.TabularInline):
    model = BatchJobEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "shard", "old_status", "new_status", "message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(BatchJob)
class BatchJobAdmin(WorkloadActionsMixin, ReadOnlyModelAdmin):
    noun = "batch job"
    list_display = [
        "name",
        "team",
        "badge",
        "model",
        "gpu_type",
        "capacity_type",
        "shards",
        "gpu_seconds",
        "updated_at",
    ]
    list_filter = ["status", "team", "gpu_type", "capacity_type"]
    search_fields = ["name", "team__slug", "uuid"]
    list_select_related = ["team", "model", "gpu_type"]
    inlines = [BatchJobEventInline]
    actions = ["approve_selected", "cancel_selected", "delete_selected_jobs"]

    @admin.display(description="Status", ordering="status")
    def badge(self, obj):
        return batch_status_badge(obj.status)

    @admin.action(description="Approve selected batch jobs")
    def approve_selected(self, request, queryset):
        self.run_each(request, queryset, services.approve_batch_job, "Approved")

    @admin.action(description="Cancel selected batch jobs")
    def cancel_selected(self, request, queryset):
        self.run_each(request, queryset, services.cancel_batch_job, "Cancelled")

    @admin.action(description="Delete selected batch jobs (cleans up the cluster)")
    def delete_selected_jobs(self, request, queryset):
        self.run_each(request, queryset, services.delete_batch_job, "Deleted")
