"""Admin for routes: read-only (changes go through the services, via the UI or the API)."""

from django.contrib import admin

from deployments.routing.models import Route, RouteTier


class RouteTierInline(admin.TabularInline):
    model = RouteTier
    extra = 0
    can_delete = False
    readonly_fields = ["endpoint", "role"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "policy", "status", "generation", "applied_generation"]
    list_filter = ["status", "policy"]
    search_fields = ["name", "team__slug"]
    list_select_related = ["team"]
    inlines = [RouteTierInline]
    readonly_fields = [f.name for f in Route._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
