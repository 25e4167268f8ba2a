"""Storing usage rows: rewrite whole hours, skip identical rows, resolve teams and endpoints."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import UsageRecord
from billing.services import UsageRow, save_usage
from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]

H = datetime(2026, 11, 3, 10, tzinfo=UTC)


def _row(**kw):
    base = dict(
        hour=H,
        kind="allocated",
        team_key="search",
        endpoint_key="chat",
        instance_type="g6.xlarge",
        capacity_type="on-demand",
        gpu_seconds=3600,
        cost=Decimal("0.8"),
    )
    return UsageRow(**{**base, **kw})


def test_rewrites_the_hours_it_was_given_only(team):
    save_usage([_row(), _row(endpoint_key="old")], H, H + timedelta(hours=1))
    UsageRecord.objects.create(
        hour=H + timedelta(hours=1),
        team_key="search",
        endpoint_key="x",
        instance_type="g6.xlarge",
        capacity_type="spot",
        gpu_seconds=1,
    )
    deleted = save_usage([_row(gpu_seconds=1800, cost=Decimal("0.4"))], H, H + timedelta(hours=1))
    assert deleted == 1  # "old" vanished from the new measurement
    assert sorted(UsageRecord.objects.values_list("endpoint_key", "gpu_seconds")) == [
        ("chat", 1800),
        ("x", 1),
    ]


def test_identical_rows_are_not_written_again(team):
    save_usage([_row()], H, H + timedelta(hours=1))
    before = UsageRecord.objects.get()
    save_usage([_row()], H, H + timedelta(hours=1))
    after = UsageRecord.objects.get()
    assert after.pk == before.pk and after.collected_at == before.collected_at


@pytest.mark.parametrize("cost", ["0.800001", "0.799999", "1234567.800001"])
def test_a_cost_changed_in_its_last_stored_place_is_written_again(team, cost):
    save_usage([_row(cost=Decimal("0.8"))], H, H + timedelta(hours=1))
    save_usage([_row(cost=Decimal(cost))], H, H + timedelta(hours=1))
    written = UsageRecord.objects.get()
    assert written.cost == Decimal(cost)
    save_usage([_row(cost=Decimal(cost) + Decimal("0.0000004"))], H, H + timedelta(hours=1))
    kept = UsageRecord.objects.get()  # the same cost at 6 places: not written again
    assert kept.cost == Decimal(cost) and kept.collected_at == written.collected_at


@pytest.mark.parametrize("spelled", [str, lambda u: u.hex.upper(), lambda u: f"{{{u}}}"])
def test_endpoint_uuid_label_beats_a_reused_name(team, spelled):
    """The label's UUID in any spelling uuid.UUID reads (hyphens or not, any case, braces)."""
    old = EndpointFactory(team=team, name="chat", status=EndpointStatus.DELETED)
    new = EndpointFactory(team=team, name="chat")
    save_usage(
        [_row(endpoint_uuid=spelled(old.uuid)), _row(hour=H + timedelta(hours=1))],
        H,
        H + timedelta(hours=2),
    )
    by_hour = {r.hour: r.endpoint for r in UsageRecord.objects.all()}
    assert by_hour[H] == old  # the label says which one ran
    assert by_hour[H + timedelta(hours=1)] == new  # without it: the newest of that name
    assert UsageRecord.objects.get(hour=H).team == team


def test_other_teams_endpoints_are_never_matched(team, other_team):
    theirs = EndpointFactory(team=other_team, name="chat")
    save_usage([_row(endpoint_uuid=str(theirs.uuid))], H, H + timedelta(hours=1))
    assert UsageRecord.objects.get().endpoint is None


def _reads_no_stored_rows(monkeypatch):
    from billing.services.usage import store

    def refuse(*args, **kwargs):
        raise AssertionError("stored rows read for an hour whose digest matched")

    monkeypatch.setattr(store, "stored_rows", refuse)


def test_an_hour_measured_as_last_written_is_neither_read_nor_written(team, monkeypatch):
    two = (H, H + timedelta(hours=2))
    save_usage([_row(), _row(hour=H + timedelta(hours=1))], *two)
    before = dict(UsageRecord.objects.values_list("hour", "collected_at"))
    _reads_no_stored_rows(monkeypatch)
    assert save_usage([_row(), _row(hour=H + timedelta(hours=1))], *two) == 0
    assert dict(UsageRecord.objects.values_list("hour", "collected_at")) == before


def test_equal_rows_built_of_other_objects_are_measured_as_last_written(team, monkeypatch):
    """The digest reads the rows' values, not how they share objects: two rows holding one
    team-key string object, then the same rows holding two equal strings, digest alike."""
    two = (H, H + timedelta(hours=2))
    shared = "".join(["sea", "rch"])
    save_usage([_row(team_key=shared), _row(team_key=shared, endpoint_key="b")], *two)
    _reads_no_stored_rows(monkeypatch)
    apart = [_row(team_key="".join(["sea", "rch"])), _row(endpoint_key="b")]
    assert apart[0].team_key is not apart[1].team_key
    assert save_usage(apart, *two) == 0


def test_only_the_hour_that_changed_is_read_and_written(team, monkeypatch):
    from billing.services.usage import store

    two = (H, H + timedelta(hours=2))
    save_usage([_row(), _row(hour=H + timedelta(hours=1))], *two)
    before = dict(UsageRecord.objects.values_list("hour", "collected_at"))
    read = []
    real = store.stored_rows
    monkeypatch.setattr(
        store, "stored_rows", lambda *a, **kw: read.append(kw.get("hours")) or real(*a, **kw)
    )
    save_usage([_row(), _row(hour=H + timedelta(hours=1), gpu_seconds=60)], *two)
    assert read == [{H + timedelta(hours=1)}]
    after = dict(UsageRecord.objects.values_list("hour", "collected_at"))
    assert after[H] == before[H] and after[H + timedelta(hours=1)] != before[H + timedelta(hours=1)]
    assert UsageRecord.objects.get(hour=H + timedelta(hours=1)).gpu_seconds == 60


def test_rows_added_or_removed_by_other_means_are_seen(team):
    """The digest is trusted only while the hour holds as many rows as were written."""
    one = (H, H + timedelta(hours=1))
    save_usage([_row()], *one)
    UsageRecord.objects.create(
        hour=H, team_key="search", endpoint_key="x", instance_type="g6.xlarge",
        capacity_type="spot", gpu_seconds=1,
    )  # fmt: skip
    assert save_usage([_row()], *one) == 1  # the stray row goes
    UsageRecord.objects.all().delete()
    save_usage([_row()], *one)
    assert UsageRecord.objects.get().gpu_seconds == 3600  # the lost row comes back


def test_a_team_made_again_under_its_slug_gets_the_hours_rows(team):
    from tests.factories import TeamFactory

    one = (H, H + timedelta(hours=1))
    save_usage([_row()], *one)
    slug = team.slug
    team.delete()  # the row keeps its keys, its team is set to NULL
    again = TeamFactory(slug=slug, name="Search again")
    save_usage([_row()], *one)
    assert UsageRecord.objects.get().team == again


def test_hours_collected_before_digests_are_read_and_compared(team):
    from billing.models import CollectedHour

    one = (H, H + timedelta(hours=1))
    save_usage([_row()], *one)
    CollectedHour.objects.update(digest="", rows=0)  # as migrated
    UsageRecord.objects.update(gpu_seconds=1)
    save_usage([_row()], *one)
    assert UsageRecord.objects.get().gpu_seconds == 3600
    assert CollectedHour.objects.get(hour=H).digest


def test_a_rerun_that_changes_nothing_writes_nothing_and_opens_no_transaction(team):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    two = (H, H + timedelta(hours=2))
    save_usage([_row(), _row(hour=H + timedelta(hours=1))], *two)
    with CaptureQueriesContext(connection) as done:
        assert save_usage([_row(), _row(hour=H + timedelta(hours=1))], *two) == 0
    statements = [q["sql"].split(None, 1)[0].upper() for q in done.captured_queries]
    assert statements and set(statements) == {"SELECT"}  # no write, no SAVEPOINT/BEGIN
