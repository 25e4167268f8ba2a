"""record_observed: compare-and-set of what the cluster reports."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from deployments.endpoints import services
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.models import Endpoint
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates


@pytest.fixture
def endpoint(team):
    return EndpointFactory(team=team, status=EndpointStatus.PROVISIONING, url="", generation=3)


def test_a_change_writes_status_url_and_one_event(endpoint):
    assert services.record_observed(
        endpoint.pk, EndpointStatus.READY, "Serving.", url="https://x.example.com/v1"
    )
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.READY and endpoint.url == "https://x.example.com/v1"
    assert endpoint.ready_at is not None
    event = endpoint.events.get()
    assert (event.old_status, event.new_status) == (
        EndpointStatus.PROVISIONING,
        EndpointStatus.READY,
    )
    assert event.duration_seconds is not None


def test_the_same_observation_twice_changes_nothing(endpoint):
    assert services.record_observed(endpoint.pk, EndpointStatus.READY, "Serving.")
    assert not services.record_observed(endpoint.pk, EndpointStatus.READY, "Serving.")
    assert endpoint.events.count() == 1


def test_a_stale_generation_is_ignored(endpoint):
    assert not services.record_observed(endpoint.pk, EndpointStatus.FAILED, "old", generation=2)
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.PROVISIONING
    assert not endpoint.events.exists()


def test_the_current_generation_is_written(endpoint):
    assert services.record_observed(endpoint.pk, EndpointStatus.FAILED, "OOM", generation=3)
    assert endpoint.events.get().message == "OOM"


def test_a_missing_endpoint_is_ignored(db):
    assert services.record_observed(999_999, EndpointStatus.READY) is False


def test_message_change_without_status_change_updates_quietly(endpoint):
    services.record_observed(endpoint.pk, EndpointStatus.PROVISIONING, "Pulling image")
    endpoint.refresh_from_db()
    assert endpoint.status_message == "Pulling image"
    assert not endpoint.events.exists()


def test_a_drift_repair_records_an_event_even_without_status_change(endpoint):
    services.record_observed(
        endpoint.pk, EndpointStatus.PROVISIONING, "Re-applied", kind=EventKind.DRIFT
    )
    assert endpoint.events.get().kind == EventKind.DRIFT


def test_deleted_sets_deleted_at(endpoint):
    services.record_observed(endpoint.pk, EndpointStatus.DELETED, "Gone")
    endpoint.refresh_from_db()
    assert endpoint.deleted_at is not None


def test_a_transition_before_the_last_one_is_recorded_at_it_with_duration_zero(endpoint, caplog):
    """A clock that went back (NTP step, a worker with a skewed clock) never crashes the sync
    on the event's duration check: the transition is clamped to the previous one and logged."""
    last = datetime(2026, 12, 4, 19, tzinfo=UTC)
    Endpoint.objects.filter(pk=endpoint.pk).update(status_changed_at=last)
    with time_machine.travel(last - timedelta(seconds=90), tick=False):
        with caplog.at_level(logging.WARNING, logger="deployments.endpoints.services"):
            assert services.record_observed(endpoint.pk, EndpointStatus.READY, "Serving.")
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.READY
    assert endpoint.status_changed_at == last and endpoint.ready_at == last
    assert endpoint.events.get().duration_seconds == 0
    assert endpoint.cold_start_seconds is None
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"endpoint={endpoint.pk} clock skew" in warning and "90.0 s before" in warning


def test_a_transition_after_the_last_one_keeps_its_time_and_logs_nothing(endpoint, caplog):
    last = datetime(2026, 12, 4, 19, tzinfo=UTC)
    Endpoint.objects.filter(pk=endpoint.pk).update(status_changed_at=last)
    with time_machine.travel(last + timedelta(seconds=90), tick=False):
        with caplog.at_level(logging.WARNING, logger="deployments.endpoints.services"):
            services.record_observed(endpoint.pk, EndpointStatus.READY, "Serving.")
    endpoint.refresh_from_db()
    assert endpoint.status_changed_at == last + timedelta(seconds=90)
    assert endpoint.events.get().duration_seconds == 90
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_controllers_transition_time_is_recorded_not_the_time_it_was_noticed(endpoint):
    """The status watcher passes the controller's lastTransitionTime: the transition is
    recorded at it, not at whenever the portal read it."""
    provisioning_since = datetime(2026, 12, 4, 19, tzinfo=UTC)
    Endpoint.objects.filter(pk=endpoint.pk).update(status_changed_at=provisioning_since)
    became_ready = provisioning_since + timedelta(seconds=300)
    with time_machine.travel(became_ready + timedelta(seconds=7), tick=False):
        assert services.record_observed(
            endpoint.pk, EndpointStatus.READY, "Serving.", at=became_ready
        )
    endpoint.refresh_from_db()
    assert endpoint.status_changed_at == became_ready and endpoint.ready_at == became_ready
    # a cold start is measured from the pod's own stages (coldstarts), never from statuses
    assert endpoint.cold_start_seconds is None
    assert endpoint.events.get().duration_seconds == 300


def test_a_transition_time_in_the_future_is_recorded_as_now(endpoint):
    """A controller whose clock runs ahead of ours cannot put a transition in our future."""
    now = datetime(2026, 12, 4, 19, tzinfo=UTC)
    Endpoint.objects.filter(pk=endpoint.pk).update(status_changed_at=now - timedelta(minutes=2))
    with time_machine.travel(now, tick=False):
        services.record_observed(
            endpoint.pk, EndpointStatus.READY, "Serving.", at=now + timedelta(seconds=30)
        )
    endpoint.refresh_from_db()
    assert endpoint.status_changed_at == now
