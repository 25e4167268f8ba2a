"""Endpoint use cases: request, approve, day-2 changes, delete, and recording what the cluster says.

Every change writes the desired state and an event inside one transaction, bumps the
generation when the cluster must follow, and enqueues `apply_endpoint` on commit.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog import pricing
from catalog.choices import CapacityType
from catalog.pricing import offering_prices
from deployments.endpoints import admission, coldstart_plans, estimates, rules
from deployments.endpoints.admission import estimate_request
from deployments.endpoints.choices import ENDPOINT_TRANSITIONS, EndpointStatus, EventKind
from deployments.endpoints.guard import refuse_if_routed
from deployments.endpoints.models import Endpoint, EndpointEvent
from deployments.endpoints.names import APPLY_ENDPOINT
from deployments.workloads import admission as core_admission
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import (
    ApprovalRequired,
    DeploymentError,
    DuplicateEndpoint,
    InvalidTransition,
)
from deployments.workloads.requests import (
    AUTO_APPROVED,
    RequestBook,
    record_action,
    record_request,
)
from portal import timeutil
from portal.access import can_admin
from portal.audit import snapshot
from portal.models import AuditLog, Team, User

log = logging.getLogger(__name__)


# Fields a request sets; the same list drives update_endpoint and the audit snapshots.
SPEC_FIELDS = [
    "model",
    "gpu_type",
    "gpu_count",
    "quantization",
    "kv_cache_dtype",
    "max_context_length",
    "min_replicas",
    "max_replicas",
    "target_queue_depth",
    "capacity_type",
    "schedule_enabled",
    "schedule_timezone",
    "schedule_start",
    "schedule_end",
    "schedule_weekdays_only",
]
SCHEDULE_FIELDS = (
    "schedule_enabled",
    "schedule_timezone",
    "schedule_start",
    "schedule_end",
    "schedule_weekdays_only",
)
AUDIT_FIELDS = [
    "name",
    *SPEC_FIELDS,
    "spot_fallback_on_demand",
    "desired_state",
    "generation",
    "status",
]


# --- events and enqueueing ----------------------------------------------------------------


def add_event(endpoint: Endpoint, kind: str, message: str, **fields: Any) -> EndpointEvent:
    """Save one timeline event; `fields` are `_event`'s keyword arguments."""
    event = _event(endpoint, kind, message, **fields)
    event.save()
    return event


def _event(
    endpoint: Endpoint,
    kind: str,
    message: str,
    *,
    actor: User | None = None,
    old_status: str = "",
    new_status: str = "",
    duration_seconds: int | None = None,
) -> EndpointEvent:
    """An unsaved event (add_event saves one; request_endpoint bulk-creates two)."""
    return EndpointEvent(
        endpoint=endpoint,
        kind=kind,
        message=message,
        actor=actor if actor is not None and actor.is_authenticated else None,
        old_status=old_status,
        new_status=new_status,
        generation=endpoint.generation,
        duration_seconds=duration_seconds,
    )


REQUEST_BOOK = RequestBook(
    "endpoint", APPLY_ENDPOINT, ENDPOINT_TRANSITIONS, event=_event, audit_fields=AUDIT_FIELDS
)


def _set_status(
    endpoint: Endpoint, status: str, message: str = "", at: datetime | None = None
) -> tuple[str, int | None]:
    """Set status in memory; return the old status and seconds spent in it. `at`: when the
    cluster made the change (a controller's transition time; never later than now)."""
    old = endpoint.status
    since = endpoint.status_changed_at or endpoint.created_at
    clock = timezone.now()
    now, skew = timeutil.not_before(min(at, clock) if at else clock, since)
    if skew:
        log.warning(
            "endpoint=%s clock skew: transition to %s is %.1f s before the previous one "
            "(%s); recorded at the previous time, duration 0",
            endpoint.pk,
            status,
            skew.total_seconds(),
            since.isoformat(),
        )
    duration = int((now - since).total_seconds()) if since else None
    ENDPOINT_TRANSITIONS.move(endpoint, status, message)
    endpoint.status_changed_at = now
    if status == EndpointStatus.READY:
        endpoint.ready_at = now
    return old, duration


def _lock(endpoint: Endpoint) -> Endpoint:
    return Endpoint.objects.select_for_update().select_related("team").get(pk=endpoint.pk)


# --- use cases ----------------------------------------------------------------------------


def request_endpoint(
    team: Team, user: User, data: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Endpoint:
    """Create an endpoint from validated data; auto-approve or wait for approval."""
    admission.validate_model_choice(data["model"], data["quantization"], data["max_context_length"])
    admission.check_sizing(data)
    with transaction.atomic():
        # Serialise requests per team so two concurrent requests cannot both use the last GPUs;
        # the quota and budget rules are then read from the locked row (one query), the usage
        # and the name check from one aggregate.
        team = core_admission.with_rules(Team.objects.select_for_update(), data["gpu_type"]).get(
            pk=team.pk
        )
        usage = admission.team_usage(team, data["gpu_type"], name=data["name"])
        if usage["name_deleting"]:
            raise DuplicateEndpoint(
                f"The team's endpoint named {data['name']!r} is still being deleted (its "
                "objects are removed from the cluster first); request it again once it shows "
                "Deleted, or choose another name."
            )
        if usage["name_taken"]:
            raise DuplicateEndpoint(f"The team already has an endpoint named {data['name']!r}.")
        estimate = estimate_request(
            team, data, usage=usage, gpu_rules=(team.type_quota, team.always_approve)
        )
        core_admission.raise_for_problems(estimate)
        endpoint = Endpoint(team=team, requested_by=user, name=data["name"])
        for field in SPEC_FIELDS:
            if field in data:
                setattr(endpoint, field, data[field])
        endpoint.offering = estimate.offering.offering
        endpoint.monthly_cost_min = estimate.monthly_cost_min
        endpoint.monthly_cost_max = estimate.monthly_cost_max
        endpoint.cold_start_seconds = coldstart_plans.measured_from_zero(data)
        # Field checks and clean() (min <= max replicas, schedule). Not re-checked here: the
        # foreign keys (team, model, GPU type are rows loaded by this request, the team locked),
        # the random uuid, and the constraints: the live (team, name) uniqueness was checked
        # above under the team lock, and min <= max is clean()'s; the database enforces all.
        endpoint.full_clean(
            exclude=["requested_by", "offering", "team", "model", "gpu_type", "uuid"],
            validate_constraints=False,
        )
        record_request(
            REQUEST_BOOK,
            endpoint,
            user,
            needs_approval=estimate.needs_approval,
            reasons=estimate.approval_reasons,
            source=source,
            audit=lambda saved: snapshot(saved, AUDIT_FIELDS),
        )
    return endpoint


def resubmit_endpoint(
    endpoint: Endpoint, user: User, changes: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Endpoint:
    """A rejected request, edited, goes through the request's rules again: model choice, fit,
    quota and budget, then approval (automatic or waiting for an approver)."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        message = "Only a rejected request can be edited and resubmitted."
        if endpoint.desired_state == DesiredState.ABSENT:
            raise InvalidTransition(message)
        ENDPOINT_TRANSITIONS.check_action("resubmit", endpoint.status, message)
        before = snapshot(endpoint, AUDIT_FIELDS)
        spec = {f: changes.get(f, getattr(endpoint, f)) for f in SPEC_FIELDS}
        admission.validate_model_choice(
            spec["model"], spec["quantization"], spec["max_context_length"]
        )
        admission.check_sizing(spec)
        for field in SPEC_FIELDS:
            setattr(endpoint, field, spec[field])
        endpoint.full_clean(exclude=["requested_by", "offering", "approved_by"])
        estimate = estimate_request(endpoint.team, spec, exclude=endpoint)
        core_admission.raise_for_problems(estimate)
        endpoint.offering = estimate.offering.offering
        endpoint.monthly_cost_min = estimate.monthly_cost_min
        endpoint.monthly_cost_max = estimate.monthly_cost_max
        endpoint.generation += 1
        if estimate.needs_approval:
            target, decision = EndpointStatus.PENDING_APPROVAL, " ".join(estimate.approval_reasons)
        else:
            target, decision = EndpointStatus.APPROVED, ""
            endpoint.approved_at = timezone.now()
        old, duration = _set_status(endpoint, target, decision)
        endpoint.save()
        pending = target == EndpointStatus.PENDING_APPROVAL
        events = [
            _event(
                endpoint,
                EventKind.REQUEST,
                f"Edited and resubmitted by {user}.",
                actor=user,
                old_status=old,
                new_status=target if pending else "",
                duration_seconds=duration,
            ),
            _event(
                endpoint,
                EventKind.APPROVAL,
                "Waiting for approval: " + decision if pending else AUTO_APPROVED,
                new_status="" if pending else target,
            ),
        ]
        action = "endpoint.resubmit"
        record_action(REQUEST_BOOK, endpoint, user, events, action, source, before, not pending)
    return endpoint


def _decide(
    endpoint: Endpoint,
    user: User,
    action: str,
    status: str,
    message: str,
    source: str,
    **audit_after: str,
) -> Endpoint:
    """Approve or reject a pending request: lock, check, set status, event, audit, and an
    approved one's apply on commit."""
    verb = action.split(".")[-1]  # approve / reject
    endpoint = _lock(endpoint)
    ENDPOINT_TRANSITIONS.check_action(
        verb,
        endpoint.status,
        f"Only pending requests can be {verb.rstrip('e')}ed; this one is "
        f"{endpoint.get_status_display().lower()}.",
    )
    if status == EndpointStatus.APPROVED:
        core_admission.check_four_eyes(endpoint, user, "endpoint")
    old, duration = _set_status(endpoint, status, message)
    fields = ["status", "status_message", "status_changed_at", "updated_at"]
    if status == EndpointStatus.APPROVED:
        endpoint.approved_by, endpoint.approved_at = user, timezone.now()
        fields += ["approved_by", "approved_at"]
    endpoint.save(update_fields=fields)
    event = _event(
        endpoint,
        EventKind.APPROVAL,
        message,
        actor=user,
        old_status=old,
        new_status=endpoint.status,
        duration_seconds=duration,
    )
    approved = status == EndpointStatus.APPROVED
    after = {"status": endpoint.status, **audit_after}
    before = {"status": old}
    record_action(
        REQUEST_BOOK, endpoint, user, event, action, source, before, approved, after=after
    )
    return endpoint


def approve_endpoint(endpoint: Endpoint, user: User, source: str = AuditLog.Source.WEB) -> Endpoint:
    with transaction.atomic():
        endpoint = _decide(
            endpoint,
            user,
            "endpoint.approve",
            EndpointStatus.APPROVED,
            f"Approved by {user}.",
            source,
        )
    return endpoint


def reject_endpoint(
    endpoint: Endpoint, user: User, reason: str = "", source: str = AuditLog.Source.WEB
) -> Endpoint:
    message = f"Rejected by {user}" + (f": {reason}" if reason else ".")
    with transaction.atomic():
        return _decide(
            endpoint,
            user,
            "endpoint.reject",
            EndpointStatus.REJECTED,
            message,
            source,
            reason=reason,
        )


def _change(
    endpoint: Endpoint,
    user: User,
    action: str,
    message: str,
    source: str,
    changes: dict[str, Any],
    *,
    desired_state: str | None = None,
) -> Endpoint:
    """Shared path of every day-2 change: lock, check, write, bump generation, enqueue."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        refusal = f"This endpoint is {endpoint.get_status_display().lower()}; it cannot be changed."
        if endpoint.desired_state == DesiredState.ABSENT:
            raise InvalidTransition(refusal)
        ENDPOINT_TRANSITIONS.check_action("change", endpoint.status, refusal)
        before = snapshot(endpoint, AUDIT_FIELDS)
        old_gpu_type_id, old_cost = endpoint.gpu_type_id, endpoint.monthly_cost_max
        spec = {f: changes.get(f, getattr(endpoint, f)) for f in SPEC_FIELDS}
        if any(f in changes for f in ("model", "quantization", "max_context_length")):
            admission.validate_model_choice(
                spec["model"], spec["quantization"], spec["max_context_length"]
            )
        if any(f in changes for f in admission.SIZING_FIELDS):
            admission.check_sizing(spec)
        for field, value in changes.items():
            setattr(endpoint, field, value)
        if desired_state is not None:
            endpoint.desired_state = desired_state
        _clean_locked(endpoint, set(changes))
        if any(
            f in changes
            for f in ("gpu_type", "gpu_count", "max_replicas", "min_replicas", "capacity_type")
            + SCHEDULE_FIELDS
        ):
            estimate = estimate_request(endpoint.team, spec, exclude=endpoint)
            core_admission.raise_for_problems(estimate)
            reasons = admission.change_approval_reasons(
                endpoint, old_gpu_type_id, old_cost, spec, estimate
            )
            message = _approve_change(endpoint, user, reasons, message)
            endpoint.offering = estimate.offering.offering
            endpoint.monthly_cost_min = estimate.monthly_cost_min
            endpoint.monthly_cost_max = estimate.monthly_cost_max
        pending = endpoint.status == EndpointStatus.PENDING_APPROVAL
        # Not deployed (no cluster) stays so until an apply reaches a cluster: a change is
        # recorded once, not as Applying -> Not deployed with the same notice every time.
        waiting = endpoint.status == EndpointStatus.NOT_DEPLOYED and (
            desired_state in (None, DesiredState.PRESENT)
        )
        old = endpoint.status
        duration = None
        if not pending:
            endpoint.generation += 1
            if not waiting:
                old, duration = _set_status(endpoint, EndpointStatus.APPLYING, message)
        endpoint.save()
        event = _event(
            endpoint,
            EventKind.ACTION,
            message,
            actor=user,
            old_status=old,
            new_status=endpoint.status if not (pending or waiting) else "",
            duration_seconds=duration,
        )
        record_action(REQUEST_BOOK, endpoint, user, event, action, source, before, not pending)
    return endpoint


def _clean_locked(endpoint: Endpoint, changed: set[str]) -> None:
    """`full_clean()` of the row read under its lock, after a change set the fields `changed`.

    Every field validator, `clean()` and the replica check constraint run as before. The checks
    that cost a query each (the model's and GPU type's rows exist, the UUID is unique, the team
    exists and (team, name) is unique among live rows) run for what this change sets, not for
    the values the locked row already holds: those were checked when they were written, and the
    database enforces each of them (foreign keys, unique indexes)."""
    exclude = ["requested_by", "offering", "approved_by"]
    exclude += [f for f in ("model", "gpu_type", "uuid") if f not in changed]
    if not changed & {"team", "name", "status"}:
        exclude.append("team")  # also leaves out the (team, name) unique constraint's query
    endpoint.full_clean(exclude=exclude)


def _approve_change(endpoint: Endpoint, user: User, reasons: list[str], message: str) -> str:
    """A change the approval rules flag is made only by an approver (team admin or platform
    staff), and its event says why it needed one; a pending request gets the new reasons."""
    if not reasons:
        return message
    if endpoint.status == EndpointStatus.PENDING_APPROVAL:
        endpoint.status_message = " ".join(reasons)
        return message
    if not can_admin(user, endpoint.team):
        raise ApprovalRequired(
            "This change needs approval: " + " ".join(reasons) + " Ask a team admin or the "
            "platform team to make it."
        )
    return f"{message} Approved as a team admin: {' '.join(reasons)}"


def scale_endpoint(
    endpoint: Endpoint,
    user: User,
    min_replicas: int,
    max_replicas: int,
    source: str = AuditLog.Source.WEB,
) -> Endpoint:
    for field, message in rules.replica_problems(min_replicas, max_replicas).items():
        raise DeploymentError(message, field=field)
    return _change(
        endpoint,
        user,
        "endpoint.scale",
        f"Scaled to {min_replicas}-{max_replicas} replicas by {user}.",
        source,
        {"min_replicas": min_replicas, "max_replicas": max_replicas},
    )


def update_endpoint(
    endpoint: Endpoint, user: User, changes: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Endpoint:
    changes = {k: v for k, v in changes.items() if k in SPEC_FIELDS and getattr(endpoint, k) != v}
    if not changes:
        return endpoint
    names = ", ".join(sorted(changes))
    return _change(
        endpoint, user, "endpoint.update", f"Changed {names} by {user}.", source, changes
    )


def set_spot_fallback(
    endpoint: Endpoint, user: User, allowed: bool, source: str = AuditLog.Source.ADMIN
) -> Endpoint:
    """Admin setting: let a spot endpoint run on on-demand nodes when no spot is left
    (preferred, not required, spot node affinity; billed on-demand meanwhile)."""
    if endpoint.capacity_type != CapacityType.SPOT:
        raise InvalidTransition("Only spot endpoints can fall back to on-demand capacity.")
    if endpoint.spot_fallback_on_demand == allowed:
        return endpoint
    verb = "Allowed" if allowed else "Stopped"
    return _change(
        endpoint,
        user,
        "endpoint.spot_fallback",
        f"{verb} on-demand fallback by {user}.",
        source,
        {"spot_fallback_on_demand": allowed},
    )


def stop_endpoint(endpoint: Endpoint, user: User, source: str = AuditLog.Source.WEB) -> Endpoint:
    if endpoint.desired_state == DesiredState.STOPPED:
        raise InvalidTransition("The endpoint is already stopped.")
    refuse_if_routed(endpoint, "stop")
    ENDPOINT_TRANSITIONS.check_action(
        "stop",
        endpoint.status,
        f"This endpoint is {endpoint.get_status_display().lower()}; it cannot be stopped "
        "(delete it instead).",
    )
    return _change(
        endpoint,
        user,
        "endpoint.stop",
        f"Stopped by {user}.",
        source,
        {},
        desired_state=DesiredState.STOPPED,
    )


def start_endpoint(endpoint: Endpoint, user: User, source: str = AuditLog.Source.WEB) -> Endpoint:
    if endpoint.desired_state != DesiredState.STOPPED:
        raise InvalidTransition("Only a stopped endpoint can be started.")
    return _change(
        endpoint,
        user,
        "endpoint.start",
        f"Started by {user}.",
        source,
        {},
        desired_state=DesiredState.PRESENT,
    )


def delete_endpoint(endpoint: Endpoint, user: User, source: str = AuditLog.Source.WEB) -> Endpoint:
    """Mark absent and let the task remove the cluster objects; never-applied ones end at once."""
    with transaction.atomic():
        endpoint = _lock(endpoint)
        if endpoint.desired_state == DesiredState.ABSENT:
            return endpoint  # deleting twice is the same as deleting once
        refuse_if_routed(endpoint, "delete")
        before = snapshot(endpoint, AUDIT_FIELDS)
        endpoint.desired_state = DesiredState.ABSENT
        endpoint.generation += 1
        never_applied = endpoint.applied_generation == 0 and endpoint.status in (
            EndpointStatus.PENDING_APPROVAL,
            EndpointStatus.REJECTED,
        )
        target = EndpointStatus.DELETED if never_applied else EndpointStatus.DELETING
        old, duration = _set_status(endpoint, target, f"Deleted by {user}.")
        if never_applied:
            endpoint.deleted_at = timezone.now()
        endpoint.save()
        event = _event(
            endpoint,
            EventKind.ACTION,
            f"Deleted by {user}.",
            actor=user,
            old_status=old,
            new_status=target,
            duration_seconds=duration,
        )
        action, enqueue = "endpoint.delete", not never_applied
        record_action(REQUEST_BOOK, endpoint, user, event, action, source, before, enqueue)
    return endpoint


def record_observed(
    endpoint_id: int,
    status: str,
    message: str = "",
    url: str | None = None,
    *,
    generation: int | None = None,
    kind: str = EventKind.STATUS,
    at: datetime | None = None,
    event: bool = True,
) -> bool:
    """Write what the cluster reports. Compare-and-set: True only if something changed.

    With `generation`, the write applies only while the endpoint is still at that generation,
    so a slow observer cannot overwrite a newer request's status. `at`: when the cluster made
    the change (the controller's transition time, never later than now; default now), which
    is what `status_changed_at`, `ready_at` and the cold start are measured by.
    """
    with transaction.atomic():
        qs = Endpoint.objects.select_for_update().filter(pk=endpoint_id)
        if generation is not None:
            qs = qs.filter(generation=generation)
        endpoint = qs.first()
        if endpoint is None:
            return False
        new_url = endpoint.url if url is None else url
        if (endpoint.status, endpoint.status_message, endpoint.url) == (status, message, new_url):
            return False
        if not ENDPOINT_TRANSITIONS.admits("endpoint", endpoint, status):
            return False
        old, duration = endpoint.status, None
        fields = ["status_message", "url", "updated_at"]
        if status != endpoint.status:
            old, duration = _set_status(endpoint, status, message, at)
            fields += ["status", "status_changed_at", "ready_at"]
            if status == EndpointStatus.DELETED:
                endpoint.deleted_at = at or timezone.now()
                fields.append("deleted_at")
        endpoint.status_message = message
        endpoint.url = new_url
        endpoint.save(update_fields=fields)
        if event and (old != status or kind != EventKind.STATUS):
            add_event(
                endpoint,
                kind,
                message or endpoint.get_status_display(),
                old_status=old,
                new_status=status if old != status else "",
                duration_seconds=duration,
            )
    log.info("endpoint=%s observed status=%s message=%s", endpoint_id, status, message)
    return True


def record_applied(
    endpoint: Endpoint, generation: int, status: str, message: str, kind: str = EventKind.STATUS
) -> bool:
    """An apply of `generation` landed: compare-and-set `applied_generation` and the status in
    one UPDATE, plus an event when the status changes (as record_observed would write).

    The UPDATE is the compare-and-set: it matches only while `generation` is current and not
    yet applied, so no row lock is held before it (deployments.endpoints.reconcile pushes to the
    cluster with none). False, writing nothing, when a newer generation superseded this one
    or another run recorded it first.
    """
    if not ENDPOINT_TRANSITIONS.admits("endpoint", endpoint, status):
        return False
    old, duration = endpoint.status, None
    fields: dict[str, Any] = {"applied_generation": generation}
    changed = (endpoint.status, endpoint.status_message) != (status, message)
    if changed:
        if status != endpoint.status:
            old, duration = _set_status(endpoint, status, message)
            fields.update(
                status=status,
                status_changed_at=endpoint.status_changed_at,
                ready_at=endpoint.ready_at,
            )
            if status == EndpointStatus.DELETED:
                endpoint.deleted_at = timezone.now()
                fields["deleted_at"] = endpoint.deleted_at
        endpoint.status_message = message
        endpoint.updated_at = timezone.now()
        fields.update(status_message=message, updated_at=endpoint.updated_at)
    if not Endpoint.objects.filter(
        pk=endpoint.pk, generation=generation, applied_generation__lt=generation
    ).update(**fields):
        return False
    endpoint.applied_generation = generation
    if changed and (old != status or kind != EventKind.STATUS):
        add_event(
            endpoint,
            kind,
            message or endpoint.get_status_display(),
            old_status=old,
            new_status=status if old != status else "",
            duration_seconds=duration,
        )
    log.info(
        "endpoint=%s applied generation=%s status=%s message=%s",
        endpoint.pk,
        generation,
        status,
        message,
    )
    return True


@dataclass(frozen=True)
class SpotFallbackCost:
    """What the admin's on-demand fallback costs while a spot endpoint runs on on-demand."""

    spot_replica_hour: Decimal
    on_demand_replica_hour: Decimal

    @property
    def extra_replica_hour(self) -> Decimal:
        return self.on_demand_replica_hour - self.spot_replica_hour


def spot_fallback_cost(endpoint: Endpoint) -> SpotFallbackCost | None:
    """Spot vs on-demand price per replica-hour on the endpoint's offering (None when the
    endpoint is not a spot endpoint with the fallback, or a price is missing)."""
    if endpoint.capacity_type != CapacityType.SPOT or not endpoint.spot_fallback_on_demand:
        return None
    gpus = int(endpoint.gpu_count)
    per_gpu = {}
    for capacity in (CapacityType.SPOT, CapacityType.ON_DEMAND):
        prices = offering_prices(endpoint.gpu_type, capacity, min_gpus=gpus)
        same = [p for p in prices if p.offering.pk == endpoint.offering_id] or prices[:1]
        if not same:
            return None
        per_gpu[capacity] = same[0].per_gpu_hour
    return SpotFallbackCost(
        spot_replica_hour=(per_gpu[CapacityType.SPOT] * gpus).quantize(Decimal("0.01")),
        on_demand_replica_hour=(per_gpu[CapacityType.ON_DEMAND] * gpus).quantize(Decimal("0.01")),
    )


def endpoint_monthly_cost(
    endpoint: Endpoint, month: datetime | None = None
) -> estimates.MonthlyCost | None:
    """The endpoint's cost in the calendar month of ``month`` (default: now) on its offering at
    the price in force, with its schedule and always on (None when the offering has no price)."""
    prices = offering_prices(endpoint.gpu_type, endpoint.capacity_type, int(endpoint.gpu_count))
    same = [p for p in prices if p.offering.pk == endpoint.offering_id] or prices[:1]
    if not same:
        return None
    spec = {f: getattr(endpoint, f) for f in SPEC_FIELDS}
    return estimates.monthly_cost(
        same[0], spec, month or pricing.this_month(), endpoint.cold_start_seconds
    )
