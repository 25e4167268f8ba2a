"""Admin for routes: read-only rows (changes go through the services): the platform team
approves or rejects pending requests with the actions, as for endpoints."""

from django.contrib import admin, messages

from deployments.routing import services
from deployments.routing.models import Route, RouteTier, SemanticRouterSettings
from deployments.workloads.admin import WorkloadActionsMixin
from deployments.workloads.errors import DeploymentError


class RouteTierInline(admin.TabularInline):
    model = RouteTier
    extra = 0
    can_delete = False
    readonly_fields = ["endpoint", "role"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Route)
class RouteAdmin(WorkloadActionsMixin, admin.ModelAdmin):
    noun = "route"
    list_display = [
        "name",
        "team",
        "policy",
        "status",
        "medium_to_small",
        "generation",
        "applied_generation",
    ]
    list_filter = ["status", "policy"]
    search_fields = ["name", "team__slug"]
    list_select_related = ["team"]
    inlines = [RouteTierInline]
    readonly_fields = [f.name for f in Route._meta.fields]
    actions = ["approve_selected", "reject_selected"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve selected pending route requests")
    def approve_selected(self, request, queryset):
        self.run_each(request, queryset, services.approve_route, "Approved")

    @admin.action(description="Reject selected pending route requests")
    def reject_selected(self, request, queryset):
        self.run_each(
            request,
            queryset,
            services.reject_route,
            "Rejected",
            reason="Rejected by the platform team.",
        )


@admin.register(SemanticRouterSettings)
class SemanticRouterSettingsAdmin(admin.ModelAdmin):
    """One row: the router image. Saving goes through routing.services.set_router_image,
    which re-applies every live complexity route with the new image."""

    fields = ["image", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request):
        return not SemanticRouterSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        SemanticRouterSettings.current()  # the row exists from the first visit
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        try:
            routes = services.set_router_image(obj.image, request.user)
        except DeploymentError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(
            request, f"Router image set; re-applying {len(routes)} complexity route(s)."
        )
