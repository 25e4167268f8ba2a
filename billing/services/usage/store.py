"""Storing hourly rows: rewrite an hour (upsert, delete stale keys) in one transaction."""

from __future__ import annotations

import hashlib
import marshal
import uuid as uuid_lib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, FloatField
from django.db.models.functions import Cast
from django.utils import timezone

from catalog.pricing import to_micros
from deployments.models import BatchJob, Endpoint
from portal.gcpause import gc_paused
from portal.models import Team
from portal.timeutil import HOUR

from ... import queries
from ...models import CollectedHour, UsageRecord
from ._sql import column, field, select, table
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
    rows: list[UsageRow], start: datetime, end: datetime, stored: Prefetched | None = None
) -> int:
    """Make the rows of ``[start, end)`` equal to ``rows``: upsert new and changed ones, delete
    the ones the new measurement lacks, leave identical ones alone, and record the whole hours as
    collected with their digests. Returns rows deleted.

    An hour whose rows digest to what was recorded when it was last written, with as many rows
    stored, is left alone without reading its rows; when every hour is, nothing is written and
    no transaction is opened. ``stored``: what ``prefetch`` read ahead."""
    ahead = stored if stored is not None else Prefetched(_recorded(start, end), set(), [])
    owners = _owner_ids(
        {(r.team_key, r.endpoint_key, r.endpoint_uuid) for r in rows}, ahead.team_slugs
    )
    with gc_paused():
        by_hour: dict[datetime, list[tuple]] = {h: [] for h in _hours(start, end)}
        for r in rows:
            by_hour.setdefault(r.hour, []).append(_digest_item(r, owners))
        digests = _digests(by_hour)
        check = {h for h, v in digests.items() if ahead.recorded.get(h) != v}
        if not check:
            return 0
        wanted: dict[tuple, tuple[UsageRow, tuple, tuple]] = {}
        for r in rows:
            if r.hour in check:
                values = _values(r, owners)
                wanted[r.key] = (r, values, _comparable(values))
        with transaction.atomic():
            return _rewrite(wanted, {h: digests[h] for h in check}, ahead, start, end)


def _rewrite(
    wanted: dict, digests: dict[datetime, tuple[str, int]], ahead: Prefetched, start, end
) -> int:
    """Rewrite the hours of ``digests`` (those whose rows may differ): read their stored rows,
    delete the stale ones, upsert the new and changed ones, record the digests. Rows deleted."""
    now = timezone.now()
    read = [row for row in ahead.rows if row[0][0] in digests]
    if digests.keys() - ahead.hours:
        read.extend(stored_rows(start, end, hours=digests.keys() - ahead.hours))
    stale, same = [], set()
    for key, values, pk in read:
        row = wanted.get(key)
        if row is None:
            stale.append(pk)
        elif values == row[2]:
            same.add(key)
    deleted = 0
    for i in range(0, len(stale), 500):
        deleted += UsageRecord.objects.filter(pk__in=stale[i : i + 500]).delete()[0]
    UsageRecord.objects.bulk_create(
        [
            _record(r, values, now)
            for key, (r, values, _) in wanted.items()
            if key[0] in digests and key not in same
        ],
        batch_size=1000,
        update_conflicts=True,
        unique_fields=UNIQUE_FIELDS,
        update_fields=UPDATE_FIELDS,
    )
    _mark_collected(digests, now)
    return deleted


@dataclass
class Prefetched:
    recorded: dict[datetime, tuple[str, int]]  # as _recorded gives it
    hours: set[datetime]  # the hours whose stored rows were read
    rows: list[tuple[tuple, tuple, int]]  # those rows, as stored_rows gives them
    team_slugs: dict[str, int] | None = None  # every team's slug -> id (None: not read)


def prefetch(start: datetime, end: datetime) -> Prefetched:
    """What ``save_usage`` reads whatever the measurement says: the recorded digests, the
    stored rows of the hours that have none (never collected, or collected before digests),
    and the teams' slugs. The collector reads them while Prometheus answers."""
    recorded = _recorded(start, end)
    every = _hours(start, end)
    hours = set(every) - set(recorded)
    only = None if len(hours) == len(every) else hours
    rows = list(stored_rows(start, end, hours=only)) if hours else []
    return Prefetched(recorded, hours, rows, _team_slugs())


# Bump when _values, the key or the encoding change: older digests then match nothing and the
# hours are read once more. (marshal's format may change with the Python version: the same.)
# 2: marshal format 2. From format 3 on, marshal writes an object met twice as a reference when
# it is shared (one str object in two rows), so equal rows built differently digested apart.
_DIGEST_VERSION = b"2"
_MARSHAL_FORMAT = 2


def _digests(by_hour: dict[datetime, list[tuple]]) -> dict[datetime, tuple[str, int]]:
    """Per hour: (digest of its rows' items, number of rows), from each row's key without the
    hour and its comparable values (an hour without rows has the digest of none). Keys are
    unique, so sorting never compares the values."""
    out = {}
    for hour, items in by_hour.items():
        items.sort()
        digest = hashlib.blake2b(
            marshal.dumps(items, _MARSHAL_FORMAT), digest_size=16, person=_DIGEST_VERSION
        )
        out[hour] = (digest.hexdigest(), len(items))
    return out


def _recorded(start: datetime, end: datetime) -> dict[datetime, tuple[str, int]]:
    """The recorded (digest, rows) of the hours of ``[start, end)`` that have a digest, if the
    table still holds that many rows for the hour (rows added or deleted by other means).

    One fixed statement, written out (``_sql``): built through the ORM (a correlated count
    annotated on a filtered queryset) it cost 1.2 ms of Python per call against 0.13 ms."""
    c, u = CollectedHour, UsageRecord
    hour = column(c, "hour")
    sql = (
        f"SELECT c.{hour}, c.{column(c, 'digest')}, c.{column(c, 'rows')}, "
        f"(SELECT COUNT(*) FROM {table(u)} u WHERE u.{column(u, 'hour')} = c.{hour}) "
        f"FROM {table(c)} c "
        f"WHERE c.{hour} >= %s AND c.{hour} < %s AND c.{column(c, 'digest')} <> %s"
    )
    ops = connection.ops
    params = [ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end), ""]
    fields = [field(c, "hour"), field(c, "digest"), field(c, "rows"), None]
    return {
        hour: (digest, rows)
        for hour, digest, rows, held in select(sql, params, fields)
        if (held or 0) == rows
    }


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hours, t = [], start
    while t < end:
        hours.append(t)
        t += HOUR
    return hours


def _mark_collected(digests: dict[datetime, tuple[str, int]], now: datetime) -> None:
    """Record the hours as collected with what was written, at ``now`` (an hour that a re-run
    left alone keeps its time: no write, and on SQLite no commit to wait for)."""
    CollectedHour.objects.bulk_create(
        [
            CollectedHour(hour=h, collected_at=now, digest=digest, rows=n)
            for h, (digest, n) in digests.items()
        ],
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["hour"],
        update_fields=["collected_at", "digest", "rows"],
    )


def stored_rows(
    start: datetime, end: datetime, hours: set[datetime] | None = None
) -> Iterable[tuple[tuple, tuple, int]]:
    """(unique key, _VALUE_FIELDS with the cost as a float, pk) of every stored row of
    ``[start, end)`` (only of ``hours`` when given), in one query; compare the values with
    ``_comparable`` of a row's.

    The hour is read as text and mapped back through the period's few distinct hours: decoding
    one timestamp per row (Django's PostgreSQL timestamptz loader is pure Python) would cost more
    than the rest of the comparison. The cost is read as a double for the same reason (Django's
    SQLite decimal converter, per row, was a third of the read): see ``_comparable``."""
    stored = (
        UsageRecord.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(hour_text=Cast("hour", CharField()), cost_float=Cast("cost", FloatField()))
        .order_by()
    )
    if hours is not None:
        stored = stored.filter(hour__in=sorted(hours))
    hour_of = dict(stored.values_list("hour_text", "hour").distinct())
    n = len(UNIQUE_FIELDS)
    fields = [f if f != "cost" else "cost_float" for f in _VALUE_FIELDS]
    for row in stored.values_list("hour_text", *UNIQUE_FIELDS[1:], *fields, "pk"):
        yield (hour_of[row[0]], *row[1:n]), row[n:-1], row[-1]


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


_COST = _VALUE_FIELDS.index("cost")


def _comparable_cost(cost) -> float:
    """A cost as ``_comparable`` gives it (see there)."""
    return float(to_micros(cost))


def _comparable(values: tuple) -> tuple:
    """A row's values as ``stored_rows`` reads them: the cost (6 places, at most 16 digits) as
    the nearest double. Two costs that differ are different doubles up to 10^9 per row (15
    significant digits; Django's own SQLite decimal reader keeps no more than 15)."""
    return (*values[:_COST], float(values[_COST]), *values[_COST + 1 :])


def _owner_ids(
    keys: set[tuple[str, str, str]], team_slugs: dict[str, int] | None = None
) -> dict[tuple[str, str, str], tuple]:
    """(team key, endpoint key, uuid label) -> (team id, endpoint id, batch job id), None if
    unknown. Keys "batch/<name>" are batch jobs' lines, the others endpoints'. ``team_slugs``:
    every team's slug -> id, when already read."""
    teams = _resolve_teams({team_key for team_key, _, _ in keys if team_key}, team_slugs)
    batch = {k for k in keys if k[1].startswith(queries.BATCH_KEY_PREFIX)}
    endpoints = _resolve_endpoints({k for k in keys if k[1] and k not in batch}, teams)
    batch_jobs = _resolve_batch_jobs(batch, teams)
    return {k: (teams.get(k[0]), endpoints.get(k), batch_jobs.get(k)) for k in keys}


def _digest_item(r: UsageRow, owners: dict[tuple[str, str, str], tuple]) -> tuple:
    """What an hour's digest reads of a row: its key without the hour, then its values as
    ``_comparable`` gives them (made at once: most runs only digest). marshal takes plain str
    only: the kind may be a TextChoices member."""
    return (
        str(r.kind),
        r.team_key,
        r.endpoint_key,
        r.instance_type,
        r.capacity_type,
        *_values(r, owners, _comparable_cost),
    )


def _values(
    r: UsageRow, owners: dict[tuple[str, str, str], tuple], cost: Callable = to_micros
) -> tuple:
    """The row's _VALUE_FIELDS as stored (comparable with a values_list of the table); the
    cost through ``cost``."""
    return (
        *owners[(r.team_key, r.endpoint_key, r.endpoint_uuid)],
        r.gpu_type,
        r.gpu_seconds,
        r.used_gpu_seconds,
        cost(r.cost),  # UsageRecord.cost has 6 decimal places
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


def _team_slugs() -> dict[str, int]:
    """Every team's slug -> id: a hundred keys in ``slug__in`` cost Django 1.0 ms to prepare
    against 0.35 ms for the whole table of 100 teams (1.2 against 1.0 ms at 1,000 teams); written
    out (``_sql``), 0.1 ms."""
    sql = f"SELECT {column(Team, 'slug')}, {column(Team, 'pk')} FROM {table(Team)}"
    return dict(select(sql, [], [field(Team, "slug"), field(Team, "pk")]))


def _resolve_teams(keys: set[str], by_slug: dict[str, int] | None = None) -> dict[str, int]:
    """Team keys are slugs (labels) or namespace names (``KUBE_NAMESPACE_PREFIX`` + slug):
    key -> team id, from ``by_slug`` (``_team_slugs``; read now when not given)."""
    if not keys:
        return {}
    prefix = settings.KUBE_NAMESPACE_PREFIX
    if by_slug is None:
        by_slug = _team_slugs()
    out = {}
    for key in keys:
        team = by_slug.get(key)
        if team is None and prefix and key.startswith(prefix):
            team = by_slug.get(key[len(prefix) :])
        if team is not None:
            out[key] = team
    return out


def _candidates(model, team_ids) -> tuple[dict[tuple[int, str], tuple], dict[str, tuple]]:
    """(by (team id, name), by uuid as 32 hex digits) of ``model``'s rows in these teams as
    (pk, team id); the newest of a reused name wins. The uuid is read as text: a UUID object
    per row (Django's converter) was most of the read's Python at 300 endpoints."""
    rows = (
        model.objects.filter(team_id__in=team_ids)
        .annotate(uuid_text=Cast("uuid", CharField()))
        .order_by("created_at")
        .values_list("pk", "team_id", "name", "uuid_text")
    )
    by_name, by_uuid = {}, {}
    for pk, team_id, name, uuid in rows:
        # PostgreSQL writes a uuid with hyphens, SQLite stores its 32 digits
        by_name[(team_id, name)] = by_uuid[uuid.replace("-", "").lower()] = (pk, team_id)
    return by_name, by_uuid


def _resolve_endpoints(
    keys: set[tuple[str, str, str]], teams: dict[str, int]
) -> dict[tuple[str, str, str], int]:
    """(team key, endpoint label, endpoint-uuid label) -> Endpoint id. The UUID label wins (a
    name is reused after a delete); else a label that is a UUID; else the newest endpoint of
    that name in the team (the InferenceService name)."""
    out = {}
    if not keys or not teams:
        return out
    by_name, by_uuid = _candidates(Endpoint, set(teams.values()))
    for team_key, endpoint_key, endpoint_uuid in keys:
        team = teams.get(team_key)
        if team is None:
            continue
        endpoint = (
            by_uuid.get(_uuid_or_none(endpoint_uuid) or "")
            or by_uuid.get(_uuid_or_none(endpoint_key) or "")
            or by_name.get((team, endpoint_key))
        )
        if endpoint is not None and endpoint[1] == team:
            out[(team_key, endpoint_key, endpoint_uuid)] = endpoint[0]
    return out


def _resolve_batch_jobs(
    keys: set[tuple[str, str, str]], teams: dict[str, int]
) -> dict[tuple[str, str, str], int]:
    """(team key, "batch/<name>", batch-job-uuid label) -> BatchJob id: by the UUID label, else
    the newest batch job of that name in the team (names are reused after a delete)."""
    out = {}
    if not keys or not teams:
        return out
    by_name, by_uuid = _candidates(BatchJob, set(teams.values()))
    for team_key, key, uuid in keys:
        team = teams.get(team_key)
        if team is None:
            continue
        name = key[len(queries.BATCH_KEY_PREFIX) :]
        job = by_uuid.get(_uuid_or_none(uuid) or "") or by_name.get((team, name))
        if job is not None and job[1] == team:
            out[(team_key, key, uuid)] = job[0]
    return out


def _uuid_or_none(value: str) -> str | None:
    """The label's UUID as 32 lowercase hex digits, None when it is not one (every form
    ``uuid.UUID`` reads has at least 32 characters: the names of most labels are refused
    without raising)."""
    if len(value) < 32:
        return None
    try:
        return uuid_lib.UUID(value).hex
    except ValueError:
        return None
