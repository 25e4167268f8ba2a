"""Batch jobs next to the reference API price (billing sits above deployments, so the
comparison with billing.ReferencePrice is made here and loaded into the batch job page)."""

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog import pricing
from deployments.batch.services import cost_report
from deployments.models import BatchJob
from portal.access import scope_to_user

from .models import ReferencePrice


def api_cost(reference: ReferencePrice, tokens_in: int, tokens_out: int) -> Decimal:
    """What the same tokens cost at the hosted API's price."""
    return pricing.to_cents(
        pricing.api_tokens_cost(
            tokens_in, tokens_out, reference.input_per_million, reference.output_per_million
        )
    )


@login_required
@require_GET
def batch_job_reference(request, uuid):
    job = (
        scope_to_user(BatchJob.objects.all(), request.user)
        .select_related("gpu_type")
        .filter(uuid=uuid)
        .first()
    )
    if job is None:
        raise Http404("No such batch job")
    reference = ReferencePrice.objects.filter(is_default=True).first()
    report = cost_report(job)
    context = {"job": job, "reference": reference, "report": report}
    if reference is not None and report["cost"] is not None and job.tokens_in + job.tokens_out:
        context["api_cost"] = api_cost(reference, job.tokens_in, job.tokens_out)
        tokens = Decimal(job.tokens_in + job.tokens_out)
        context["api_per_million"] = pricing.per_million_tokens_cost(context["api_cost"], tokens)
    return render(request, "billing/partials/batchjob_reference.html", context)
