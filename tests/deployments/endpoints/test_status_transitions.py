"""The endpoint transition table (deployments.endpoints.choices.ENDPOINT_TRANSITIONS): the
lifecycle's steps are allowed, steps out of order refused, and the services refuse a person's
action from a status the table does not start it from, with a clear message."""

import pytest

from deployments.endpoints import services
from deployments.endpoints.choices import ENDPOINT_TRANSITIONS, EndpointStatus
from deployments.workloads.errors import InvalidTransition
from tests.factories import EndpointFactory

S = EndpointStatus


def test_every_status_is_in_the_table():
    assert ENDPOINT_TRANSITIONS.statuses == set(S.values)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.PENDING_APPROVAL, S.APPROVED),
        (S.PENDING_APPROVAL, S.REJECTED),
        (S.REJECTED, S.PENDING_APPROVAL),  # edited and resubmitted
        (S.APPROVED, S.PROVISIONING),
        (S.APPROVED, S.NOT_DEPLOYED),  # no cluster connected
        (S.PROVISIONING, S.READY),
        (S.READY, S.SCALED_TO_ZERO),
        (S.SCALED_TO_ZERO, S.READY),
        (S.READY, S.APPLYING),  # a day-2 change
        (S.STOPPED, S.APPLYING),  # started again
        (S.READY, S.DELETING),
        (S.DELETING, S.DELETED),
        (S.DELETING, S.FAILED),  # the apiserver refused the delete
    ],
)
def test_lifecycle_steps_are_allowed(old, new):
    assert ENDPOINT_TRANSITIONS.allows(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.READY, S.APPROVED),
        (S.READY, S.PENDING_APPROVAL),
        (S.DELETED, S.PROVISIONING),
        (S.DELETING, S.READY),
        (S.PENDING_APPROVAL, S.READY),
        (S.REJECTED, S.PROVISIONING),
    ],
)
def test_steps_out_of_order_are_refused(old, new):
    assert not ENDPOINT_TRANSITIONS.allows(old, new)


def test_approval_starts_only_from_pending():
    assert ENDPOINT_TRANSITIONS.starts("approve") == {S.PENDING_APPROVAL}
    assert ENDPOINT_TRANSITIONS.starts("reject") == {S.PENDING_APPROVAL}
    assert ENDPOINT_TRANSITIONS.starts("resubmit") == {S.REJECTED}


def test_a_pending_request_may_be_changed_but_not_stopped():
    assert ENDPOINT_TRANSITIONS.may("change", S.PENDING_APPROVAL)
    assert not ENDPOINT_TRANSITIONS.may("stop", S.PENDING_APPROVAL)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [S.REJECTED, S.DELETED])
def test_a_change_of_a_rejected_or_deleted_endpoint_is_refused_clearly(status, staff):
    ep = EndpointFactory(status=status)
    with pytest.raises(InvalidTransition, match=f"is {S(status).label.lower()}; it cannot be"):
        services.scale_endpoint(ep, staff, 1, 2)


@pytest.mark.django_db
def test_stopping_a_pending_request_is_refused_with_what_to_do_instead(staff):
    ep = EndpointFactory(status=S.PENDING_APPROVAL)
    with pytest.raises(InvalidTransition, match=r"cannot be stopped \(delete it instead\)"):
        services.stop_endpoint(ep, staff)


@pytest.mark.django_db
def test_approving_a_ready_endpoint_is_refused_and_says_its_status(staff):
    ep = EndpointFactory(status=S.READY)
    with pytest.raises(
        InvalidTransition, match="Only pending requests can be approved; this one is ready"
    ):
        services.approve_endpoint(ep, staff)
