"""HTML pages of batch jobs: list, request (with the live estimate), detail with the live
progress fragment (polled until final, 286 then), and the day-2 actions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deployments.batch import services
from deployments.batch.choices import BATCH_TRANSITIONS
from deployments.batch.forms import BatchJobForm
from deployments.batch.models import BatchJob
from deployments.endpoints.pods import cluster_configured
from deployments.workloads import views as shared
from deployments.workloads.errors import DeploymentError
from portal.access import can_admin, can_write, scope_to_user
from portal.models import Team

TIMELINE_LENGTH = 50


def _get_job(request, uuid) -> BatchJob:
    return shared.get_workload_or_404(
        BatchJob.objects.select_related("model", "gpu_type", "offering"),
        request.user,
        uuid,
        "batch job",
    )


def _teams(user):
    teams = Team.objects.all() if user.is_staff else Team.objects.filter(memberships__user=user)
    return teams.distinct().order_by("name")


@login_required
@require_GET
def batch_job_list(request):
    jobs = (
        scope_to_user(BatchJob.objects.exclude(status="deleted"), request.user)
        .select_related("team", "model", "gpu_type")
        .order_by("-created_at")[:200]
    )
    return render(request, "deployments/batchjob_list.html", {"jobs": jobs})


@login_required
@require_http_methods(["GET", "POST"])
def batch_job_create(request):
    form = BatchJobForm(request.POST or None, teams=_teams(request.user))
    estimate = _estimate(request.user, form) if request.method == "POST" else None
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        team = data.pop("team")
        if not can_write(request.user, team):
            raise PermissionDenied("Viewers cannot request batch jobs.")
        if "estimate" not in request.POST:
            try:
                job = services.request_batch_job(team, request.user, data)
            except DeploymentError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Batch job {job.name} requested.")
                return shared.go_to(
                    request, reverse("deployments:batch_job_detail", args=[job.uuid])
                )
    context = {"form": form, "estimate": estimate, "cluster_connected": cluster_configured()}
    return render(request, "deployments/batchjob_create.html", context)


ESTIMATE_NEEDS = ("team", "model", "gpu_type")


def _estimate(user, form: BatchJobForm):
    """The estimate of what the form holds so far (the request needs every field; the
    estimate only the team, model and GPU type), or None. Same function as the API's."""
    form.is_valid()
    data = dict(form.cleaned_data)
    if any(data.get(k) is None for k in ESTIMATE_NEEDS):
        return None
    team = data.pop("team")
    return services.estimate_batch(team, data) if can_write(user, team) else None


@login_required
@require_GET
def batch_job_estimate(request):
    """The live estimate fragment: the request form sends its fields here as they change."""
    form = BatchJobForm(request.GET, teams=_teams(request.user))
    context = {"form": form, "estimate": _estimate(request.user, form)}
    return render(request, "deployments/partials/batchjob_estimate.html", context)


def _actions(job: BatchJob) -> list[str]:
    """Day-2 buttons that make sense in the job's status (the services check again)."""
    may = [a for a in ("cancel", "resume", "retry") if BATCH_TRANSITIONS.may(a, job.status)]
    if "retry" in may and not job.shards_in("failed"):
        may.remove("retry")
    if BATCH_TRANSITIONS.may("delete", job.status) and job.desired_state != "absent":
        may.append("delete")
    return may


def _eta(job: BatchJob, done: int) -> str | None:
    """Remaining time at the pace so far (shards done per elapsed time of this job)."""
    if job.is_final or not job.started_at or not done or done >= job.shards:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    left = int(elapsed / done * (job.shards - done))
    return f"about {left // 3600} h {left % 3600 // 60} min"


def _context(request, job: BatchJob) -> dict:
    counts = job.shard_counts
    return {
        "job": job,
        "actions": _actions(job),
        "eta": _eta(job, counts["done"]),
        "counts": counts,
        "shards": job.shard_progress,
        "report": services.cost_report(job),
        "events": job.events.select_related("actor")[:TIMELINE_LENGTH],
        "can_write": can_write(request.user, job.team),
        "can_admin": can_admin(request.user, job.team),
    }


@login_required
@require_GET
def batch_job_detail(request, uuid):
    job = _get_job(request, uuid)
    return render(request, "deployments/batchjob_detail.html", _context(request, job))


@login_required
@require_GET
def batch_job_status(request, uuid):
    job = _get_job(request, uuid)
    return shared.status_fragment(
        request, job, "deployments/partials/batchjob_status.html", _context(request, job)
    )


ACTIONS = {
    "cancel": (services.cancel_batch_job, False, "Cancelling: committed output is kept."),
    "resume": (services.resume_batch_job, False, "Resuming the shards without output."),
    "retry": (services.retry_failed_shards, False, "Retrying the failed shards."),
    "delete": (services.delete_batch_job, False, "Deleting: the cluster objects are removed."),
    "approve": (services.approve_batch_job, True, "Approved."),
    "reject": (services.reject_batch_job, True, "Rejected."),
}


@login_required
@require_POST
def batch_job_action(request, uuid, action):
    if action not in ACTIONS:
        raise Http404("No such action")
    job = _get_job(request, uuid)
    func, admin_only, done = ACTIONS[action]
    if not (can_admin if admin_only else can_write)(request.user, job.team):
        raise PermissionDenied("You cannot do this for this team.")
    extra = {"reason": request.POST.get("reason", "")[:500]} if action == "reject" else {}
    try:
        func(job, request.user, **extra)
    except DeploymentError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    if request.POST.get("next") == "approvals":  # decided from the approvals inbox
        url = reverse("deployments:approval_list")
    else:
        url = reverse("deployments:batch_job_detail", args=[job.uuid])
    return shared.go_to(request, url)
