"""Storing hourly rows: rewrite an hour (upsert, delete stale keys) in one transaction."""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import CharField
from django.db.models.functions import Cast
from django.utils import timezone

from catalog.pricing import to_micros
from deployments.models import BatchJob, Endpoint
from portal.models import Team
from portal.timeutil import HOUR

from ... import queries
from ...models import CollectedHour, UsageRecord
from ._base import gc_paused
from ._types import UsageRow

# --- storing -----------------------------------------------------------------------------------

UPDATE_FIELDS = [
    "team",
    "endpoint",
    "batch_job",
    "gpu_type",
    "gpu_seconds",
    "used_gpu_seconds",
    "cost",
    "unpriced_gpu_seconds",
    "prompt_tokens",
    "generation_tokens",
    "collected_at",
]
UNIQUE_FIELDS = ["hour", "kind", "team_key", "endpoint_key", "instance_type", "capacity_type"]


def save_usage(
    rows: list[UsageRow], start: datetime, end: datetime, stored: list | None = None
) -> int:
    """Make the rows of ``[start, end)`` equal to ``rows``: upsert new and changed ones, delete
    the ones the new measurement lacks, leave identical ones alone. Returns rows deleted.
    ``stored``: those hours' rows as ``stored_rows`` reads them (read here when not given)."""
    owners = _owner_ids({(r.team_key, r.endpoint_key, r.endpoint_uuid) for r in rows})
    now = timezone.now()
    with gc_paused(), transaction.atomic():
        wanted = {r.key: (r, _values(r, owners)) for r in rows}
        stale, same = [], set()
        for key, values, pk in stored_rows(start, end) if stored is None else stored:
            row = wanted.get(key)
            if row is None:
                stale.append(pk)
            elif values == row[1]:
                same.add(key)
        deleted = 0
        for i in range(0, len(stale), 500):
            deleted += UsageRecord.objects.filter(pk__in=stale[i : i + 500]).delete()[0]
        UsageRecord.objects.bulk_create(
            [_record(r, values, now) for key, (r, values) in wanted.items() if key not in same],
            batch_size=1000,
            update_conflicts=True,
            unique_fields=UNIQUE_FIELDS,
            update_fields=UPDATE_FIELDS,
        )
    return deleted


def mark_collected(start: datetime, end: datetime) -> None:
    """Record the whole hours of ``[start, end)`` as collected (a re-run only moves the time)."""
    now, hours, t = timezone.now(), [], start
    while t < end:
        hours.append(CollectedHour(hour=t, collected_at=now))
        t += HOUR
    CollectedHour.objects.bulk_create(
        hours,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["hour"],
        update_fields=["collected_at"],
    )


def stored_rows(start: datetime, end: datetime) -> Iterable[tuple[tuple, tuple, int]]:
    """(unique key, _VALUE_FIELDS, pk) of every stored row of ``[start, end)``, in one query.

    The hour is read as text and mapped back through the period's few distinct hours: decoding
    one timestamp per row (Django's PostgreSQL timestamptz loader is pure Python) would cost more
    than the rest of the comparison."""
    stored = (
        UsageRecord.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(hour_text=Cast("hour", CharField()))
        .order_by()
    )
    hours = dict(stored.values_list("hour_text", "hour").distinct())
    n = len(UNIQUE_FIELDS)
    for row in stored.values_list("hour_text", *UNIQUE_FIELDS[1:], *_VALUE_FIELDS, "pk"):
        yield (hours[row[0]], *row[1:n]), row[n:-1], row[-1]


# Compared with the stored row to skip writing rows that did not change.
_VALUE_FIELDS = [
    "team_id",
    "endpoint_id",
    "batch_job_id",
    "gpu_type",
    "gpu_seconds",
    "used_gpu_seconds",
    "cost",
    "unpriced_gpu_seconds",
    "prompt_tokens",
    "generation_tokens",
]


def _owner_ids(keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], tuple]:
    """(team key, endpoint key, uuid label) -> (team id, endpoint id, batch job id), None if
    unknown. Keys "batch/<name>" are batch jobs' lines, the others endpoints'."""
    teams = _resolve_teams({team_key for team_key, _, _ in keys if team_key})
    batch = {k for k in keys if k[1].startswith(queries.BATCH_KEY_PREFIX)}
    endpoints = _resolve_endpoints({k for k in keys if k[1] and k not in batch}, teams)
    batch_jobs = _resolve_batch_jobs(batch, teams)
    return {
        k: (
            teams[k[0]].pk if k[0] in teams else None,
            endpoints[k].pk if k in endpoints else None,
            batch_jobs[k].pk if k in batch_jobs else None,
        )
        for k in keys
    }


def _values(r: UsageRow, owners: dict[tuple[str, str, str], tuple]) -> tuple:
    """The row's _VALUE_FIELDS as stored (comparable with a values_list of the table)."""
    return (
        *owners[(r.team_key, r.endpoint_key, r.endpoint_uuid)],
        r.gpu_type,
        r.gpu_seconds,
        r.used_gpu_seconds,
        to_micros(r.cost),  # UsageRecord.cost has 6 decimal places
        r.unpriced_gpu_seconds,
        r.prompt_tokens,
        r.generation_tokens,
    )


def _record(r: UsageRow, values: tuple, now: datetime) -> UsageRecord:
    fields = dict(zip(_VALUE_FIELDS, values, strict=True))
    return UsageRecord(
        hour=r.hour,
        kind=r.kind,
        team_key=r.team_key,
        endpoint_key=r.endpoint_key,
        instance_type=r.instance_type,
        capacity_type=r.capacity_type,
        collected_at=now,
        **fields,
    )


def _resolve_teams(keys: set[str]) -> dict[str, Team]:
    """Team keys are slugs (labels) or namespace names (``KUBE_NAMESPACE_PREFIX`` + slug)."""
    prefix = settings.KUBE_NAMESPACE_PREFIX
    slugs = {k for k in keys} | {k[len(prefix) :] for k in keys if prefix and k.startswith(prefix)}
    by_slug = {t.slug: t for t in Team.objects.filter(slug__in=slugs)}
    out = {}
    for key in keys:
        team = by_slug.get(key)
        if team is None and prefix and key.startswith(prefix):
            team = by_slug.get(key[len(prefix) :])
        if team is not None:
            out[key] = team
    return out


def _resolve_endpoints(
    keys: set[tuple[str, str, str]], teams: dict[str, Team]
) -> dict[tuple[str, str, str], Endpoint]:
    """(team key, endpoint label, endpoint-uuid label) -> Endpoint. The UUID label wins (a name
    is reused after a delete); else a label that is a UUID; else the newest endpoint of that
    name in the team (the InferenceService name)."""
    out = {}
    team_ids = {t.pk for t in teams.values()}
    candidates = Endpoint.objects.filter(team_id__in=team_ids).order_by("created_at")
    by_name = {(e.team_id, e.name): e for e in candidates}  # newest wins
    by_uuid = {str(e.uuid): e for e in candidates}
    for team_key, endpoint_key, endpoint_uuid in keys:
        team = teams.get(team_key)
        if team is None:
            continue
        endpoint = (
            by_uuid.get(_uuid_or_none(endpoint_uuid) or "")
            or by_uuid.get(_uuid_or_none(endpoint_key) or "")
            or by_name.get((team.pk, endpoint_key))
        )
        if endpoint is not None and endpoint.team_id == team.pk:
            out[(team_key, endpoint_key, endpoint_uuid)] = endpoint
    return out


def _resolve_batch_jobs(
    keys: set[tuple[str, str, str]], teams: dict[str, Team]
) -> dict[tuple[str, str, str], BatchJob]:
    """(team key, "batch/<name>", batch-job-uuid label) -> BatchJob: by the UUID label, else the
    newest batch job of that name in the team (names are reused after a delete)."""
    team_ids = {t.pk for t in teams.values()}
    candidates = BatchJob.objects.filter(team_id__in=team_ids).order_by("created_at")
    by_name = {(j.team_id, j.name): j for j in candidates}  # newest wins
    by_uuid = {str(j.uuid): j for j in candidates}
    out = {}
    for team_key, key, uuid in keys:
        team = teams.get(team_key)
        if team is None:
            continue
        name = key[len(queries.BATCH_KEY_PREFIX) :]
        job = by_uuid.get(_uuid_or_none(uuid) or "") or by_name.get((team.pk, name))
        if job is not None and job.team_id == team.pk:
            out[(team_key, key, uuid)] = job
    return out


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid_lib.UUID(value))
    except ValueError:
        return None
