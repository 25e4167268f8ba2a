"""Route statuses: a table of their own (no scaled-to-zero or stopped; Not deployed without a
cluster, as endpoints), stored
with the same strings as before, and approve/reject checked against the table."""

import pytest

from deployments.endpoints.choices import EndpointStatus
from deployments.routing.choices import ROUTE_FINAL_STATUSES, ROUTE_TRANSITIONS, RouteStatus
from deployments.routing.models import Route


def test_route_statuses_have_no_replica_statuses():
    values = set(RouteStatus.values)
    assert not values & {"scaled_to_zero", "stopped", "applying"}


def test_stored_values_are_the_endpoint_strings_they_replace():
    for status in RouteStatus:
        assert EndpointStatus(status.value).label == status.label


def test_the_route_status_field_takes_route_statuses():
    field = Route._meta.get_field("status")
    assert {value for value, _label in field.choices} == set(RouteStatus.values)
    assert field.default == RouteStatus.PENDING_APPROVAL


def test_every_status_is_in_the_table():
    assert ROUTE_TRANSITIONS.statuses == set(RouteStatus.values)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (RouteStatus.PENDING_APPROVAL, RouteStatus.APPROVED),
        (RouteStatus.PENDING_APPROVAL, RouteStatus.REJECTED),
        (RouteStatus.APPROVED, RouteStatus.PROVISIONING),
        (RouteStatus.PROVISIONING, RouteStatus.READY),
        (RouteStatus.READY, RouteStatus.FAILED),
        (RouteStatus.FAILED, RouteStatus.READY),
        (RouteStatus.READY, RouteStatus.DELETING),
        (RouteStatus.DELETING, RouteStatus.DELETED),
    ],
)
def test_lifecycle_steps_are_allowed(old, new):
    assert ROUTE_TRANSITIONS.allows(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (RouteStatus.READY, RouteStatus.APPROVED),
        (RouteStatus.REJECTED, RouteStatus.APPROVED),
        (RouteStatus.DELETED, RouteStatus.PROVISIONING),
        (RouteStatus.DELETING, RouteStatus.READY),
        (RouteStatus.PENDING_APPROVAL, RouteStatus.READY),
    ],
)
def test_steps_out_of_order_are_refused(old, new):
    assert not ROUTE_TRANSITIONS.allows(old, new)


def test_approval_starts_only_from_pending():
    assert ROUTE_TRANSITIONS.sources(RouteStatus.APPROVED) == {RouteStatus.PENDING_APPROVAL}
    assert ROUTE_TRANSITIONS.sources(RouteStatus.REJECTED) == {RouteStatus.PENDING_APPROVAL}


def test_final_statuses_end_polling():
    assert ROUTE_FINAL_STATUSES == {"ready", "failed", "deleted", "rejected", "not_deployed"}
    assert Route(status=RouteStatus.PROVISIONING).is_final is False
    assert Route(status=RouteStatus.READY).is_final is True
