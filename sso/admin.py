from django.contrib import admin

from portal.admin import AuditedModelAdmin

from .models import GroupMapping, OidcIdentity


@admin.register(GroupMapping)
class GroupMappingAdmin(AuditedModelAdmin):
    list_display = ("group", "team", "role", "grants_staff", "created_at")
    list_filter = ("grants_staff", "role", "team")
    search_fields = ("group", "team__name")
    autocomplete_fields = ("team",)


@admin.register(OidcIdentity)
class OidcIdentityAdmin(AuditedModelAdmin):
    list_display = ("user", "subject", "issuer", "last_sign_in")
    search_fields = ("user__username", "subject", "issuer")
    readonly_fields = ("groups", "last_sign_in")
    autocomplete_fields = ("user",)
    filter_horizontal = ("managed_teams",)
