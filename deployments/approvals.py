"""The approvals inbox: the requests of every product (endpoints, batch jobs, routes) this
user may decide on. It combines the products, so it sits above them. Thin: query, render."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from deployments.batch import services as batch_services
from deployments.endpoints import admission
from deployments.endpoints.forms import EndpointRejectForm
from deployments.routing import services as route_services
from deployments.workloads import admission as core_admission

PAGE_SIZE = 25
BATCH_APPROVALS = 50  # pending batch jobs shown in the approvals inbox (oldest first)


@login_required
@require_GET
def approval_list(request):
    pending = admission.pending_approvals_for(request.user).order_by("created_at")
    page = Paginator(pending, PAGE_SIZE).get_page(request.GET.get("page"))
    batch_jobs = list(
        batch_services.pending_batch_approvals_for(request.user).order_by("created_at")[
            :BATCH_APPROVALS
        ]
    )
    pending_routes = list(route_services.pending_routes_for(request.user))
    for request_ in [*page.object_list, *batch_jobs, *pending_routes]:
        if request_.requested_by_id == request.user.pk:
            request_.other_approvers = core_admission.approvers_for(request_)
    return render(
        request,
        "deployments/approval_list.html",
        {
            "page": page,
            "batch_jobs": batch_jobs,
            "reject_form": EndpointRejectForm(),
            "pending_routes": pending_routes,
        },
    )
