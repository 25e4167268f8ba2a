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


def test_endpoint_uuid_label_beats_a_reused_name(team):
    old = EndpointFactory(team=team, name="chat", status=EndpointStatus.DELETED)
    new = EndpointFactory(team=team, name="chat")
    save_usage(
        [_row(endpoint_uuid=str(old.uuid)), _row(hour=H + timedelta(hours=1))],
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
