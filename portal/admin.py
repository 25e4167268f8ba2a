"""Platform console: users, teams (members, quotas, budget, approval rules), the audit log.

Every admin change to teams, the catalog and prices is written to the audit log
(`AuditedModelAdmin`); the audit log itself is read-only.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models
from django.utils import timezone

from .audit import record_audit, snapshot
from .models import ApiToken, AuditLog, Membership, Team, TeamGpuQuota, User
from .tokens import revoke_token

ADMIN = AuditLog.Source.ADMIN


def _audit(request, action: str, obj, before=None, after=None) -> None:
    record_audit(
        actor=request.user,
        action=f"{obj._meta.model_name}.{action}",
        instance=obj,
        source=ADMIN,
        before=before,
        after=after,
    )


class AuditedModelAdmin(admin.ModelAdmin):
    """Records add/change/delete of the object and of its inline rows in the audit log."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        before = None
        if change:
            old = type(obj).objects.filter(pk=obj.pk).first()
            before = snapshot(old) if old is not None else None
        super().save_model(request, obj, form, change)
        _audit(request, "change" if change else "add", obj, before=before, after=snapshot(obj))

    def delete_model(self, request, obj):
        _audit(request, "delete", obj, before=snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.deleted_forms:
            if inline_form.instance.pk:
                _audit(
                    request, "delete", inline_form.instance, before=snapshot(inline_form.instance)
                )
        befores = {}
        for inline_form in formset.initial_forms:
            if inline_form.instance.pk and inline_form.has_changed():
                old = type(inline_form.instance).objects.filter(pk=inline_form.instance.pk).first()
                befores[inline_form.instance.pk] = snapshot(old) if old else None
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            _audit(request, "add", obj, after=snapshot(obj))
        for obj, _fields in formset.changed_objects:
            _audit(request, "change", obj, before=befores.get(obj.pk), after=snapshot(obj))


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Rows that are only looked at in the admin (written by code, never by hand)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class TeamGpuQuotaInline(admin.TabularInline):
    model = TeamGpuQuota
    extra = 0
    verbose_name_plural = "Per GPU type quotas (on top of the total)"


@admin.register(Team)
class TeamAdmin(AuditedModelAdmin):
    list_display = [
        "name",
        "slug",
        "max_gpus",
        "monthly_budget",
        "approval_cost_threshold",
        "over_budget_policy",
        "member_count",
    ]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["approval_gpu_types"]
    inlines = [MembershipInline, TeamGpuQuotaInline]
    fieldsets = [
        (None, {"fields": ["name", "slug"]}),
        ("Quota and budget", {"fields": ["max_gpus", "monthly_budget", "over_budget_policy"]}),
        ("Approval rules", {"fields": ["approval_cost_threshold", "approval_gpu_types"]}),
        (
            "SLOs and alerts",
            {
                "fields": [
                    "slo_ttft_p95_seconds",
                    "slo_error_rate",
                    "alert_email",
                    "alert_webhook_url",
                ]
            },
        ),
    ]

    def save_related(self, request, form, formsets, change):
        """Many-to-many approval rules are not in the row snapshot: audit them here."""
        team = form.instance
        before = sorted(team.approval_gpu_types.values_list("name", flat=True)) if change else []
        super().save_related(request, form, formsets, change)
        after = sorted(team.approval_gpu_types.values_list("name", flat=True))
        if before != after:
            _audit(
                request,
                "approval_gpu_types",
                team,
                before={"approval_gpu_types": before},
                after={"approval_gpu_types": after},
            )

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_members=Count("memberships"))

    @admin.display(description="Members", ordering="_members")
    def member_count(self, obj) -> int:
        return obj._members


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyModelAdmin):
    """Read-only: entries can be looked at, never added, changed or deleted."""

    list_display = ["created_at", "actor", "source", "action", "object_type", "object_repr", "team"]
    list_filter = ["source", "object_type", "action", "team"]
    search_fields = ["object_repr", "object_id", "action", "actor__username"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "team"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyModelAdmin):
    """Tokens by prefix, never the key (only its digest is stored, and not shown either).
    Created on the user's token page or with `manage.py create_api_token`, where the key is
    shown once; here they can only be looked at and revoked."""

    list_display = [
        "key_prefix",
        "name",
        "user",
        "created_at",
        "expires_at",
        "last_used_at",
        "state",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at", "created_at"]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    list_select_related = ["user"]
    fields = [
        "user",
        "name",
        "key_prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="Key starts with", ordering="prefix")
    def key_prefix(self, obj) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="State")
    def state(self, obj) -> str:
        return obj.state(timezone.now())

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = sum(revoke_token(token, request.user, ADMIN) for token in queryset)
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
