"""The abstract team workload and event (deployments.workloads.models): every product's rows
share them, and the tables, constraints and related names stay what the migrations made."""

import pytest

from deployments.models import BatchJob, BatchJobEvent, Endpoint, EndpointEvent, Route
from deployments.workloads.models import TeamWorkload, WorkloadEvent
from tests.factories import EndpointFactory

SHARED = {
    "uuid",
    "desired_state",
    "generation",
    "applied_generation",
    "status_message",
    "requested_by",
    "approved_by",
    "approved_at",
    "created_at",
    "updated_at",
    "deleted_at",
}


@pytest.mark.parametrize(
    ("model", "table", "related", "constraint"),
    [
        (Endpoint, "deployments_endpoint", "endpoints", "unique_live_endpoint_name_per_team"),
        (BatchJob, "deployments_batchjob", "batch_jobs", "unique_live_batch_job_name_per_team"),
        (Route, "deployments_route", "routes", "unique_live_route_name_per_team"),
    ],
)
def test_each_product_is_a_team_workload_with_its_old_table(model, table, related, constraint):
    assert issubclass(model, TeamWorkload)
    assert model._meta.db_table == table
    assert model._meta.get_field("team").remote_field.related_name == related
    assert constraint in {c.name for c in model._meta.constraints}
    assert SHARED <= {f.name for f in model._meta.get_fields()}
    assert model._meta.ordering == ["team__name", "name"]


@pytest.mark.parametrize(
    ("model", "table"),
    [(EndpointEvent, "deployments_endpointevent"), (BatchJobEvent, "deployments_batchjobevent")],
)
def test_events_are_workload_events_with_their_old_table(model, table):
    assert issubclass(model, WorkloadEvent)
    assert model._meta.db_table == table
    assert model._meta.ordering == ["-created_at", "-id"]


def test_final_statuses_are_the_products_own():
    assert Endpoint(status="scaled_to_zero").is_final is True
    assert Route(status="scaled_to_zero").is_final is False  # not a route status
    assert Route(status="ready").is_final is True


@pytest.mark.django_db
def test_a_deleted_workload_frees_its_name(team):
    from django.db import IntegrityError, transaction

    EndpointFactory(team=team, name="chat", status="deleted")
    EndpointFactory(team=team, name="chat")  # allowed: the other one is deleted
    with pytest.raises(IntegrityError), transaction.atomic():
        EndpointFactory(team=team, name="chat")
    assert str(Endpoint.objects.filter(team=team).first()) == f"{team.slug}/chat"
