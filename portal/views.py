"""Portal pages: dashboard, team switcher and team settings (members, SLOs, alerts)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.authtoken.models import Token

from deployments.choices import DesiredState, EndpointStatus
from deployments.models import Endpoint, EndpointEvent
from deployments.services import ACTIVE_STATUSES, pending_approvals_for

from . import services
from .access import can_admin, get_team_for_user, role_for
from .audit import record_audit
from .forms import MemberInviteForm, MemberRoleForm, TeamSettingsForm
from .htmx import hx_redirect, is_partial
from .middleware import CurrentTeamMiddleware
from .models import AuditLog, Membership


@login_required
@require_GET
def home(request):
    team = request.team
    context = {"team": team, "pending_approvals": pending_approvals_for(request.user).count()}
    if team is not None:
        live = Endpoint.objects.filter(team=team).exclude(status=EndpointStatus.DELETED)
        active = live.filter(status__in=ACTIVE_STATUSES).exclude(desired_state=DesiredState.ABSENT)
        counts = dict(live.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        totals = active.aggregate(
            gpus=Sum(F("gpu_count") * F("max_replicas")),
            cost=Sum("monthly_cost_max"),
            cost_min=Sum("monthly_cost_min"),
        )
        context.update(
            status_counts=[(s, counts[s]) for s in EndpointStatus.values if counts.get(s)],
            endpoint_total=sum(counts.values()),
            gpus_committed=totals["gpus"] or 0,
            monthly_cost_max=totals["cost"],
            monthly_cost_min=totals["cost_min"],
            recent_endpoints=live.select_related("model", "gpu_type").order_by("-updated_at")[:5],
            recent_events=EndpointEvent.objects.filter(endpoint__team=team)
            .select_related("endpoint", "actor")
            .order_by("-created_at", "-id")[:8],
            role=role_for(request.user, team),
        )
    return render(request, "portal/home.html", context)


@login_required
@require_POST
def team_switch(request):
    team = get_team_for_user(request.user, request.POST.get("team", ""))
    request.session[CurrentTeamMiddleware.SESSION_KEY] = team.slug
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = ""
    return redirect(target or "portal:home")


def _settings_context(request, team, **forms):
    is_admin = can_admin(request.user, team)
    context = {
        "team": team,
        "is_admin": is_admin,
        "memberships": team.memberships.select_related("user").order_by("user__username"),
        "gpu_quotas": team.gpu_quotas.select_related("gpu_type"),
        "approval_gpu_types": team.approval_gpu_types.all(),
        "settings_form": forms.get("settings_form") or TeamSettingsForm(instance=team),
        "invite_form": forms.get("invite_form") or MemberInviteForm(),
        "role_choices": Membership.Role.choices,
        "audit_entries": AuditLog.objects.filter(team=team).select_related("actor")[:10],
    }
    return context


@login_required
@require_http_methods(["GET", "POST"])
def team_settings(request, slug):
    team = get_team_for_user(request.user, slug)
    form = None
    if request.method == "POST":
        if not can_admin(request.user, team):
            raise PermissionDenied("Only team admins can change team settings.")
        form = TeamSettingsForm(request.POST, instance=get_team_for_user(request.user, slug))
        if form.is_valid():
            services.update_team_settings(team, request.user, form.cleaned_data)
            messages.success(request, "Team settings saved.")
            url = reverse("portal:team_settings", args=[team.slug])
            return hx_redirect(url) if is_partial(request) else redirect(url)
    template = (
        "portal/partials/team_settings_form.html"
        if is_partial(request) and form
        else "portal/team_settings.html"
    )
    return render(request, template, _settings_context(request, team, settings_form=form))


def _admin_team(request, slug):
    team = get_team_for_user(request.user, slug)
    if not can_admin(request.user, team):
        raise PermissionDenied("Only team admins can manage members.")
    return team


@login_required
@require_POST
def team_member_add(request, slug):
    team = _admin_team(request, slug)
    form = MemberInviteForm(request.POST)
    if form.is_valid():
        try:
            membership = services.invite_member(team, request.user, form.cleaned_data)
        except services.TeamError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, f"Added {membership.user.username} as {membership.role}.")
            return redirect("portal:team_settings", slug=team.slug)
    return render(
        request, "portal/team_settings.html", _settings_context(request, team, invite_form=form)
    )


@login_required
@require_POST
def team_member_role(request, slug, user_uuid):
    team = _admin_team(request, slug)
    membership = get_object_or_404(Membership, team=team, user__uuid=user_uuid)
    form = MemberRoleForm(request.POST)
    try:
        if not form.is_valid():
            raise services.TeamError("Pick a valid role.")
        services.change_role(membership, request.user, form.cleaned_data["role"])
    except services.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.username} is now {form.cleaned_data['role']}.")
    return redirect("portal:team_settings", slug=team.slug)


@login_required
@require_POST
def team_member_remove(request, slug, user_uuid):
    team = _admin_team(request, slug)
    membership = get_object_or_404(Membership, team=team, user__uuid=user_uuid)
    try:
        services.remove_member(membership, request.user)
    except services.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Removed {membership.user.username} from {team.name}.")
    return redirect("portal:team_settings", slug=team.slug)


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request):
    """The user's REST API token: rotate it and show the new key once (never stored in a
    cookie or message). Scripts send it as `Authorization: Token <key>`."""
    token = Token.objects.filter(user=request.user).first()
    new_key = None
    if request.method == "POST":
        with transaction.atomic():
            had_token = Token.objects.filter(user=request.user).delete()[0] > 0
            token = Token.objects.create(user=request.user)
            record_audit(
                actor=request.user,
                action="token.rotate" if had_token else "token.create",
                instance=request.user,
                source=AuditLog.Source.WEB,
            )
        new_key = token.key
    context = {
        "token": token,
        "new_key": new_key,
        "api_root": request.build_absolute_uri("/api/v1/"),
    }
    return render(request, "portal/api_token.html", context)
