"""The request bookkeeping every product shares (deployments.workloads.requests)."""

from unittest import mock

import pytest

from deployments.batch.choices import BatchJobStatus
from deployments.batch.services import REQUEST_BOOK as BATCH_BOOK
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.services import REQUEST_BOOK as ENDPOINT_BOOK
from deployments.routing.services import REQUEST_BOOK as ROUTE_BOOK
from deployments.workloads.errors import InvalidTransition
from deployments.workloads.requests import record_action, record_request
from portal.models import AuditLog
from tests.factories import BatchJobFactory, EndpointFactory, UserFactory

pytestmark = pytest.mark.django_db

PRODUCTS = [
    (ENDPOINT_BOOK, lambda: EndpointFactory(status=EndpointStatus.PENDING_APPROVAL)),
    (BATCH_BOOK, lambda: BatchJobFactory(status=BatchJobStatus.PENDING_APPROVAL)),
]


def _events(workload):
    return list(workload.events.order_by("id").values_list("kind", "new_status", "message"))


@pytest.mark.parametrize(("book", "make"), PRODUCTS, ids=["endpoint", "batch_job"])
def test_an_approved_request_is_saved_with_its_events_audit_and_apply_on_commit(
    book, make, django_capture_on_commit_callbacks
):
    workload, user = make(), UserFactory(username="ana")
    with mock.patch("portal.jobs.enqueue") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            record_request(
                book, workload, user, needs_approval=False, source="web", audit=lambda w: {}
            )
    workload.refresh_from_db()
    assert workload.status == book.approved and workload.approved_at is not None
    assert _events(workload)[-2:] == [
        ("request", "", "Requested by ana."),
        ("approval", book.approved, "Approved automatically (within quota and rules)."),
    ]
    assert AuditLog.objects.filter(action=f"{book.kind}.request").count() == 1
    enqueue.assert_called_once_with(book.apply_task, workload.pk, workload.generation)


@pytest.mark.parametrize(("book", "make"), PRODUCTS, ids=["endpoint", "batch_job"])
def test_a_request_that_needs_approval_waits_with_its_reasons_and_enqueues_nothing(
    book, make, django_capture_on_commit_callbacks
):
    workload = make()
    with mock.patch("portal.jobs.enqueue") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            record_request(
                book,
                workload,
                UserFactory(),
                needs_approval=True,
                reasons=["Over quota.", "Over budget."],
                source="web",
                audit=lambda w: {"status": w.status},
            )
    workload.refresh_from_db()
    assert workload.status == book.pending and workload.approved_at is None
    assert workload.status_message == "Over quota. Over budget."
    assert _events(workload)[-1] == (
        "approval",
        "",
        "Waiting for approval: Over quota. Over budget.",
    )
    audit = AuditLog.objects.get(action=f"{book.kind}.request")
    assert audit.after == {"status": book.pending}  # the snapshot of the saved row
    enqueue.assert_not_called()


def test_a_request_from_a_status_the_table_does_not_allow_is_refused():
    endpoint = EndpointFactory(status=EndpointStatus.DELETED)
    with pytest.raises(InvalidTransition):
        record_request(
            ENDPOINT_BOOK,
            endpoint,
            UserFactory(),
            needs_approval=False,
            source="web",
            audit=lambda w: {},
        )
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.DELETED


def test_every_products_book_starts_requests_in_statuses_of_its_own_table():
    for book in (ENDPOINT_BOOK, BATCH_BOOK, ROUTE_BOOK):
        assert book.table.allows(book.pending, book.approved)
        assert {book.pending, book.approved} <= book.table.statuses


@pytest.mark.parametrize(
    ("book", "make"),
    [(ENDPOINT_BOOK, EndpointFactory), (BATCH_BOOK, BatchJobFactory)],
    ids=["endpoint", "batch_job"],
)
@pytest.mark.parametrize("enqueue", [True, False])
def test_an_action_saves_its_event_audits_before_and_after_and_applies_only_when_asked(
    book, make, enqueue, django_capture_on_commit_callbacks
):
    workload, user = make(), UserFactory()
    event = book.event(workload, "action", "Scaled.", actor=user)
    workload.generation += 1
    workload.save()
    with mock.patch("portal.jobs.enqueue") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            record_action(
                book, workload, user, event, f"{book.kind}.scale", "api", {"g": 1}, enqueue
            )
    assert workload.events.filter(kind="action", message="Scaled.").count() == 1
    audit = AuditLog.objects.get(action=f"{book.kind}.scale")
    assert audit.before == {"g": 1} and audit.after["generation"] == workload.generation
    assert queued.call_args_list == (
        [mock.call(book.apply_task, workload.pk, workload.generation)] if enqueue else []
    )


def test_an_action_saves_several_events_in_order_and_audits_the_after_it_is_given(
    django_capture_on_commit_callbacks,
):
    endpoint, user = EndpointFactory(), UserFactory()
    events = [
        ENDPOINT_BOOK.event(endpoint, "request", "Edited.", actor=user),
        ENDPOINT_BOOK.event(endpoint, "approval", "Waiting."),
    ]
    with mock.patch("portal.jobs.enqueue") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            record_action(
                ENDPOINT_BOOK,
                endpoint,
                user,
                events,
                "endpoint.reject",
                "web",
                None,
                False,
                after={"status": "rejected", "reason": "Too big."},
            )
    assert [(k, m) for k, _, m in _events(endpoint)[-2:]] == [
        ("request", "Edited."),
        ("approval", "Waiting."),
    ]
    audit = AuditLog.objects.get(action="endpoint.reject")
    assert audit.before is None and audit.after == {"status": "rejected", "reason": "Too big."}
    queued.assert_not_called()
