"""The batch job transition table (deployments.batch.choices.BATCH_TRANSITIONS): its steps, the
actions a person may take from each status, and the job page's buttons read from it."""

import pytest

from deployments.batch.choices import BATCH_TRANSITIONS, BatchJobStatus

S = BatchJobStatus


def test_every_status_is_in_the_table():
    assert BATCH_TRANSITIONS.statuses == set(S.values)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.PENDING_APPROVAL, S.APPROVED),
        (S.APPROVED, S.RUNNING),
        (S.APPROVED, S.NOT_DEPLOYED),
        (S.NOT_DEPLOYED, S.APPLYING),  # a cluster is connected
        (S.RUNNING, S.SUCCEEDED),
        (S.RUNNING, S.CANCELLING),  # the cost cap
        (S.CANCELLING, S.CANCELLED),
        (S.FAILED, S.APPLYING),  # resume or retry
        (S.SUCCEEDED, S.DELETING),
        (S.DELETING, S.DELETED),
    ],
)
def test_lifecycle_steps_are_allowed(old, new):
    assert BATCH_TRANSITIONS.allows(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.SUCCEEDED, S.RUNNING),
        (S.REJECTED, S.APPROVED),
        (S.DELETED, S.APPLYING),
        (S.PENDING_APPROVAL, S.RUNNING),
        (S.CANCELLED, S.CANCELLING),
    ],
)
def test_steps_out_of_order_are_refused(old, new):
    assert not BATCH_TRANSITIONS.allows(old, new)


@pytest.mark.parametrize(
    ("action", "status", "may"),
    [
        ("cancel", S.RUNNING, True),
        ("cancel", S.PENDING_APPROVAL, True),
        ("cancel", S.CANCELLING, False),  # cancelling twice
        ("resume", S.CANCELLED, True),
        ("resume", S.NOT_DEPLOYED, False),
        ("retry", S.FAILED, True),
        ("retry", S.CANCELLED, False),
        ("delete", S.SUCCEEDED, True),
        ("delete", S.DELETED, False),
        ("approve", S.REJECTED, False),
    ],
)
def test_a_persons_action_starts_only_where_the_table_says(action, status, may):
    assert BATCH_TRANSITIONS.may(action, status) is may
