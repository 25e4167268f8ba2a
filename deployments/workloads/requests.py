"""A new request's bookkeeping, and a person's change's, written once for every product
(STYLE §3b, §4 step 2).

After a product's service has checked the request (its own rules, then admission) and filled
in its row, `record_request` does what every product does with it, inside the caller's
transaction: the status (pending approval with the reasons, or approved), the row, its first
timeline events (the request, and the decision), the audit line, and, when approved, the apply
queued by name on commit (`portal.jobs`: the task runs only once the row is committed).

`record_action` is the same tail for a person's change to a saved row (its event, the audit
line with before/after, the apply on commit). A product says what differs in one `RequestBook`
next to its services.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from deployments.workloads.transitions import TransitionTable
from portal import jobs
from portal.audit import record_audit, snapshot

AUTO_APPROVED = "Approved automatically (within quota and rules)."


@dataclass(frozen=True)
class RequestBook:
    """What a product gives the request bookkeeping.

    `kind`: the audit action's prefix (`<kind>.request`). `apply_task`: the apply task's name.
    `table`: its transition table. `event`: builds an unsaved timeline event `(workload, kind,
    message, *, actor=..., new_status=...)`; None for a product without a timeline.
    `pending`, `approved`: the two statuses a request starts in (the same words in every
    product so far). `audit_fields`: what an action's audit line snapshots.
    """

    kind: str
    apply_task: str
    table: TransitionTable
    event: Callable[..., Any] | None = None
    pending: str = "pending_approval"
    approved: str = "approved"
    audit_fields: Sequence[str] = ()


def record_request(
    book: RequestBook,
    workload: Any,
    user: Any,
    *,
    needs_approval: bool,
    reasons: Sequence[str] = (),
    source: str,
    audit: Callable[[Any], dict[str, Any]],
    approved_by: Any = None,
) -> None:
    """Save a checked, filled-in request as pending approval (`reasons` are its message) or
    approved (by `approved_by`, or automatically), with its first events and audit line
    (`audit(workload)`: the saved row's audit snapshot); an approved one is applied once the
    caller's transaction commits."""
    now = timezone.now()
    if needs_approval:
        book.table.move(workload, book.pending, " ".join(reasons))
    else:
        book.table.move(workload, book.approved)
        workload.approved_by, workload.approved_at = approved_by, now
    if hasattr(workload, "status_changed_at"):
        workload.status_changed_at = now
    workload.save()
    if book.event is not None:
        _first_events(book, workload, user, needs_approval, reasons)
    record_audit(
        actor=user,
        action=f"{book.kind}.request",
        instance=workload,
        source=source,
        after=audit(workload),
    )
    if not needs_approval:
        jobs.enqueue_on_commit(book.apply_task, workload.pk, workload.generation)


def record_action(
    book: RequestBook,
    workload: Any,
    user: Any,
    event: Any | Sequence[Any] | None,
    action: str,
    source: str,
    before: dict[str, Any] | None,
    enqueue: bool,
    *,
    after: dict[str, Any] | None = None,
) -> None:
    """A person's change to a saved row, recorded the same way for every product: its
    timeline `event` (unsaved, or several saved in order; None for none), the audit line
    `action` (`before` -> `after`, by default the row's `book.audit_fields` now) and, when the
    cluster must follow, the apply of the row's generation on commit."""
    events = event if isinstance(event, (list, tuple)) else [] if event is None else [event]
    for each in events:
        each.save()
    if after is None:
        after = snapshot(workload, book.audit_fields)
    record_audit(
        actor=user, action=action, instance=workload, source=source, before=before, after=after
    )
    if enqueue:
        jobs.enqueue_on_commit(book.apply_task, workload.pk, workload.generation)


def _first_events(
    book: RequestBook, workload: Any, user: Any, needs_approval: bool, reasons: Sequence[str]
) -> None:
    # Each event carries the status it brought: the request "Pending approval" (or nothing),
    # the automatic approval "Approved", never the request "Approved".
    requested = book.event(
        workload,
        "request",
        f"Requested by {user}.",
        actor=user,
        new_status=book.pending if needs_approval else "",
    )
    if needs_approval:
        decision = book.event(workload, "approval", "Waiting for approval: " + " ".join(reasons))
    else:
        decision = book.event(workload, "approval", AUTO_APPROVED, new_status=book.approved)
    type(requested).objects.bulk_create([requested, decision])
