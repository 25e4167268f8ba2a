"""What the cluster reports is checked against the product's transition table before it is
written: an illegal transition is refused (logged, nothing written), for every product, through
the same `record` / `record_many` hooks the syncs and the status watcher call."""

import logging

import pytest

from deployments.batch.choices import BatchJobStatus
from deployments.batch.observe import Observation
from deployments.batch.reconcile import BATCH_JOBS
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.observe import Observed
from deployments.endpoints.reconcile import ENDPOINTS
from deployments.routing.choices import RouteStatus
from deployments.routing.models import Route, RoutePolicy
from deployments.routing.reconcile import ROUTES
from tests.factories import BatchJobFactory, EndpointFactory, TeamFactory

pytestmark = pytest.mark.django_db


def _refused(caplog, kind, pk, old, new):
    return any(
        f"{kind}={pk} " in r.getMessage() and f"refused transition {old} -> {new}" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )


def test_a_deleted_endpoint_reported_ready_again_is_refused_and_not_written(caplog):
    endpoint = EndpointFactory(status=EndpointStatus.DELETED, status_message="Gone.")
    events = endpoint.events.count()
    assert not ENDPOINTS.record(endpoint, Observed(EndpointStatus.READY, "Serving.", "http://x"))
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.status_message, endpoint.url) == ("deleted", "Gone.", "")
    assert endpoint.events.count() == events
    assert _refused(caplog, "endpoint", endpoint.pk, "deleted", "ready")


def test_a_legal_endpoint_transition_is_still_written():
    endpoint = EndpointFactory(status=EndpointStatus.PROVISIONING)
    assert ENDPOINTS.record(endpoint, Observed(EndpointStatus.READY, "Serving.", "http://x"))
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.READY


def test_a_succeeded_batch_job_reported_running_again_is_refused_and_not_written(caplog):
    job = BatchJobFactory(
        status=BatchJobStatus.SUCCEEDED, generation=1, applied_generation=1, status_message="Done."
    )
    states = job.shard_states
    seen = Observation(
        shard_states=[{**s, "state": "running"} for s in states],
        status=BatchJobStatus.RUNNING,
        message="Running.",
    )
    assert BATCH_JOBS.record_many(None, [(job, seen)]) == 0
    job.refresh_from_db()
    assert (job.status, job.status_message, job.shard_states) == ("succeeded", "Done.", states)
    assert not job.events.exists()
    assert _refused(caplog, "batch_job", job.pk, "succeeded", "running")


def test_a_rejected_route_reported_ready_is_refused_and_not_written(caplog):
    route = Route.objects.create(
        team=TeamFactory(),
        name="chat",
        policy=RoutePolicy.PROMPT_LENGTH,
        status=RouteStatus.REJECTED,
        generation=1,
        applied_generation=1,
    )
    assert not ROUTES.record(route, (RouteStatus.READY, "Routing."))
    route.refresh_from_db()
    assert (route.status, route.status_message) == ("rejected", "")
    assert _refused(caplog, "route", route.pk, "rejected", "ready")


def test_a_route_that_moved_since_it_was_loaded_is_checked_again_in_the_update():
    route = Route.objects.create(
        team=TeamFactory(),
        name="chat",
        policy=RoutePolicy.PROMPT_LENGTH,
        status=RouteStatus.PROVISIONING,
        generation=1,
        applied_generation=1,
    )
    Route.objects.filter(pk=route.pk).update(status=RouteStatus.REJECTED)  # after the load
    assert not ROUTES.record(route, (RouteStatus.READY, "Routing."))
    assert Route.objects.get(pk=route.pk).status == RouteStatus.REJECTED
