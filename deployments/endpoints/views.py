"""Endpoint pages: list, request (with live estimate), detail + live status, day-2 actions
(the approvals inbox that lists every product is deployments.approvals). Thin: parse input, call a service, render."""

import uuid as uuid_module

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deployments.endpoints import admission, coldstart_plans, manifests, model_catalog, services
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.filters import EndpointFilterSet
from deployments.endpoints.forms import (
    EndpointChangeForm,
    EndpointDeleteForm,
    EndpointForm,
    EndpointRejectForm,
    EndpointScaleForm,
)
from deployments.endpoints.forms import add_service_error as _form_error
from deployments.endpoints.guard import live_routes_using
from deployments.endpoints.models import Endpoint
from deployments.endpoints.pods import cluster_configured
from deployments.workloads import sizing
from deployments.workloads import views as shared
from deployments.workloads.errors import DeploymentError
from portal.access import can_admin, can_write, scope_to_user
from portal.htmx import is_partial
from portal.middleware import CurrentTeamMiddleware

PAGE_SIZE = 25
CHANGE_IDS = "change_%s"  # the change panel's field ids (the scale panel has min/max too)
TIMELINE_LENGTH = 30
RECENT_STARTS = 5  # the newest starts the endpoint page lists with their stages


def _endpoints_for(user):
    return scope_to_user(Endpoint.objects.all(), user).select_related(
        "team", "model", "gpu_type", "offering", "requested_by"
    )


def get_endpoint(request, uuid) -> Endpoint:
    """The endpoint if the user's team owns it; 404 otherwise (never 403, see access.py)."""
    return shared.get_workload_or_404(
        Endpoint.objects.select_related("model", "gpu_type", "offering"),
        request.user,
        uuid,
        "endpoint",
    )


def _require_write(request, endpoint: Endpoint) -> None:
    if not can_write(request.user, endpoint.team):
        raise PermissionDenied("Viewers cannot change this team's endpoints.")


def _require_approver(request, endpoint: Endpoint) -> None:
    if not can_admin(request.user, endpoint.team):
        raise PermissionDenied("Only team admins and platform staff can approve requests.")


# --- list and request --------------------------------------------------------------------


@login_required
@require_GET
def endpoint_list(request):
    team = request.team
    queryset = _endpoints_for(request.user).filter(team=team).order_by("name")
    filterset = EndpointFilterSet(request.GET or None, queryset=queryset)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filterset": filterset,
        "page": page,
        "team": team,
        "can_request": team is not None and can_write(request.user, team),
    }
    if is_partial(request):
        return render(request, "deployments/partials/endpoint_table.html", context)
    return render(request, "deployments/endpoint_list.html", context)


def _form_problems(form) -> list[str]:
    """The form's errors as sentences ("Max replicas: ..."), for the live estimate."""
    problems = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else None
        problems += [f"{label}: {e}" if label else e for e in errors]
    return problems


def _estimate_context(team, form, endpoint: Endpoint | None = None) -> dict:
    """The live estimate for whatever part of the form is valid so far (never raises on bad
    input): admission.check_request, the rules the request and change paths enforce."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    if team is None or not data.get("gpu_type"):
        return {"check": None, "estimate": None, "sizing": None}
    spec = {f: data.get(f, getattr(endpoint, f, None)) for f in services.SPEC_FIELDS}
    check = admission.check_request(team, spec, invalid=_form_problems(form), endpoint=endpoint)
    return {
        "check": check,
        "estimate": check.estimate,
        "sizing": check.sizing,
        "cold_start": coldstart_plans.plan_for_spec(spec),
    }


@login_required
@require_GET
def endpoint_estimate(request):
    """The estimate fragment of the request form, or with ?endpoint=<uuid> of its change form."""
    endpoint = None
    if request.GET.get("endpoint"):
        uuid = _uuid_or_404(request.GET["endpoint"])
        endpoint = get_endpoint(request, uuid)
        # The form writes into its instance: the estimate compares with the endpoint as it is.
        instance = get_endpoint(request, uuid)
        form = EndpointChangeForm(request.GET, instance=instance, auto_id=CHANGE_IDS)
    else:
        form = EndpointForm(request.GET)
    team = endpoint.team if endpoint else request.team
    context = {
        "team": team,
        "change": endpoint is not None and endpoint.status != EndpointStatus.REJECTED,
    }
    context.update(_estimate_context(team, form, endpoint))
    return render(request, "deployments/partials/endpoint_estimate.html", context)


def _uuid_or_404(value: str) -> uuid_module.UUID:
    try:
        return uuid_module.UUID(value)
    except ValueError:
        raise Http404("No such endpoint") from None


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_create(request):
    team = shared.requesting_team(request, "endpoints")
    if team is None:
        return redirect("portal:home")
    # A model card's "Request this model" link prefills the form (deployments.model_catalog).
    prefilled = model_catalog.prefill(request.GET) if request.method == "GET" else {}
    form = EndpointForm(
        request.POST or None, initial={"min_replicas": 1, "max_replicas": 1, **prefilled}
    )
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.request_endpoint(team, request.user, form.cleaned_data)
        except (DeploymentError, ValidationError) as exc:
            _form_error(form, exc)
        else:
            if endpoint.status == "pending_approval":
                verb = "is waiting for approval"
            elif cluster_configured():
                verb = "was approved and is being deployed"
            else:
                verb = "was approved; no cluster is connected, so it is not deployed yet"
            messages.success(request, f"Endpoint {endpoint.name} {verb}.")
            return shared.go_to(
                request, reverse("deployments:endpoint_detail", args=[endpoint.uuid])
            )
    context = {
        "form": form,
        "team": team,
        "can_write": can_write(request.user, team),
        "cluster_connected": cluster_configured(),
        "prefilled": bool(prefilled),
        **(_estimate_context(team, form) if form.is_bound else {}),
    }
    if is_partial(request):
        return render(request, "deployments/partials/endpoint_form.html", context)
    return render(request, "deployments/endpoint_create.html", context)


# --- detail and live status ---------------------------------------------------------------


def _autoscale_threshold(endpoint: Endpoint) -> int | None:
    try:
        return manifests.busy_threshold(endpoint)
    except (sizing.SizingInputError, ValueError):
        return None


def _detail_context(request, endpoint: Endpoint, **forms) -> dict:
    return {
        "endpoint": endpoint,
        "events": endpoint.events.select_related("actor")[:TIMELINE_LENGTH],
        "can_write": can_write(request.user, endpoint.team),
        "can_approve": can_admin(request.user, endpoint.team),
        "scale_form": forms.get("scale_form")
        or EndpointScaleForm(
            initial={"min_replicas": endpoint.min_replicas, "max_replicas": endpoint.max_replicas}
        ),
        # The change panel loads its form when opened (endpoint_edit's GET): a third of the
        # page's CPU went into a form most views never open. A rejected request shows it.
        "edit_form": forms.get("edit_form")
        or (_change_form(endpoint) if endpoint.status == EndpointStatus.REJECTED else None),
        "change_check": forms.get("change_check"),
        "delete_form": forms.get("delete_form") or EndpointDeleteForm(endpoint=endpoint),
        "reject_form": forms.get("reject_form") or EndpointRejectForm(),
        "open_panel": forms.get("open_panel", ""),
        "spot_fallback": services.spot_fallback_cost(endpoint),
        "monthly": services.endpoint_monthly_cost(endpoint),
        "autoscale_threshold": _autoscale_threshold(endpoint),
        "routes_using": live_routes_using(endpoint),
        "cold_start": coldstart_plans.plan_for_endpoint(endpoint),
        "recent_starts": endpoint.cold_starts.all()[:RECENT_STARTS],
        "prewarm_minutes": manifests.prewarm_minutes(endpoint) if endpoint.schedule_enabled else 0,
    }


@login_required
@require_GET
def endpoint_detail(request, uuid):
    endpoint = get_endpoint(request, uuid)
    CurrentTeamMiddleware.follow(request, endpoint.team)
    return render(request, "deployments/endpoint_detail.html", _detail_context(request, endpoint))


@login_required
@require_GET
def endpoint_status(request, uuid):
    """The live status fragment; 286 tells htmx to stop polling once the status is final."""
    endpoint = get_endpoint(request, uuid)
    context = {
        "endpoint": endpoint,
        "events": endpoint.events.select_related("actor")[:TIMELINE_LENGTH],
    }
    return shared.status_fragment(
        request, endpoint, "deployments/partials/endpoint_status.html", context
    )


# --- day-2 actions ------------------------------------------------------------------------


def _done(request, endpoint: Endpoint, message: str):
    messages.success(request, message)
    url = reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    return shared.go_to(request, url)


def _failed(request, endpoint: Endpoint, **forms):
    return render(
        request, "deployments/endpoint_detail.html", _detail_context(request, endpoint, **forms)
    )


@login_required
@require_POST
def endpoint_scale(request, uuid):
    endpoint = get_endpoint(request, uuid)
    _require_write(request, endpoint)
    form = EndpointScaleForm(request.POST)
    if form.is_valid():
        try:
            services.scale_endpoint(
                endpoint,
                request.user,
                form.cleaned_data["min_replicas"],
                form.cleaned_data["max_replicas"],
            )
        except (DeploymentError, ValidationError) as exc:
            _form_error(form, exc)
        else:
            return _done(request, endpoint, "Scaling requested.")
    return _failed(request, endpoint, scale_form=form, open_panel="scale")


def _change_form(endpoint: Endpoint) -> EndpointChangeForm:
    return EndpointChangeForm(instance=endpoint, auto_id=CHANGE_IDS)


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_edit(request, uuid):
    """GET: the change panel's form (what the endpoint page's panel loads when it is opened;
    the whole page with the panel open without htmx). POST: the change."""
    endpoint = get_endpoint(request, uuid)
    _require_write(request, endpoint)
    if request.method == "GET":
        if not is_partial(request):
            context = _detail_context(
                request, endpoint, edit_form=_change_form(endpoint), open_panel="edit"
            )
            return render(request, "deployments/endpoint_detail.html", context)
        context = {
            "endpoint": endpoint,
            "edit_form": _change_form(endpoint),
            "submit_label": "Roll out change",
            "change": True,
        }
        return render(request, "deployments/partials/endpoint_change_form.html", context)
    form = EndpointChangeForm(
        request.POST, instance=get_endpoint(request, uuid), auto_id=CHANGE_IDS
    )
    refusal = None
    if form.is_valid():
        rejected = endpoint.status == EndpointStatus.REJECTED
        change = services.resubmit_endpoint if rejected else services.update_endpoint
        try:
            change(endpoint, request.user, form.cleaned_data)
        except (DeploymentError, ValidationError) as exc:
            refusal = exc
        else:
            done = (
                "Resubmitted." if rejected else "Change requested; a new revision is rolling out."
            )
            return _done(request, endpoint, done)
    endpoint = get_endpoint(request, uuid)
    # The panel's estimate of the change as submitted (before the service's refusal joins the
    # form's errors, so the estimate still says why: approval, quota, fit).
    check = _estimate_context(endpoint.team, form, endpoint)["check"]
    if refusal is not None:
        _form_error(form, refusal)
    return _failed(request, endpoint, edit_form=form, change_check=check, open_panel="edit")


def _simple_action(request, uuid, action, message: str):
    endpoint = get_endpoint(request, uuid)
    _require_write(request, endpoint)
    try:
        action(endpoint, request.user)
    except DeploymentError as exc:
        messages.error(request, exc.message)
        url = reverse("deployments:endpoint_detail", args=[endpoint.uuid])
        return shared.go_to(request, url)
    return _done(request, endpoint, message)


@login_required
@require_POST
def endpoint_stop(request, uuid):
    return _simple_action(
        request, uuid, services.stop_endpoint, "Stopping: replicas scale to zero; the spec is kept."
    )


@login_required
@require_POST
def endpoint_start(request, uuid):
    return _simple_action(request, uuid, services.start_endpoint, "Starting again.")


@login_required
@require_POST
def endpoint_delete(request, uuid):
    endpoint = get_endpoint(request, uuid)
    _require_write(request, endpoint)
    form = EndpointDeleteForm(request.POST, endpoint=endpoint)
    if not form.is_valid():
        return _failed(request, endpoint, delete_form=form, open_panel="delete")
    try:
        services.delete_endpoint(endpoint, request.user)
    except DeploymentError as exc:  # a live route still sends traffic to it
        messages.error(request, exc.message)
        return _failed(request, endpoint, delete_form=form, open_panel="delete")
    return _done(request, endpoint, f"Endpoint {endpoint.name} is being deleted.")


# --- approvals ----------------------------------------------------------------------------


def _after_decision(request, endpoint: Endpoint):
    target = request.POST.get("next") or ""
    if target != "detail":
        url = reverse("deployments:approval_list")
    else:
        url = reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    return shared.go_to(request, url)


@login_required
@require_POST
def endpoint_approve(request, uuid):
    endpoint = get_endpoint(request, uuid)
    _require_approver(request, endpoint)
    try:
        services.approve_endpoint(endpoint, request.user)
    except DeploymentError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Approved {endpoint}; it is being deployed.")
    return _after_decision(request, endpoint)


@login_required
@require_POST
def endpoint_reject(request, uuid):
    endpoint = get_endpoint(request, uuid)
    _require_approver(request, endpoint)
    form = EndpointRejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason so the requester knows what to change.")
        return _after_decision(request, endpoint)
    try:
        services.reject_endpoint(endpoint, request.user, form.cleaned_data["reason"])
    except DeploymentError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Rejected {endpoint}.")
    return _after_decision(request, endpoint)
