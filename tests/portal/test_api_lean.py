"""portal.api.lean.LeanList answers what the serializer answers, from values() rows."""

import decimal
import zoneinfo
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from billing.models import Chargeback
from deployments.endpoints.api.serializers import EndpointSerializer
from deployments.endpoints.api.views import (
    ENDPOINT_LIST_JOINED,
    ENDPOINT_PREFETCH,
    ENDPOINT_RELATED,
)
from deployments.endpoints.models import Endpoint
from portal.api.fields import BlankAsNullURLField
from portal.api.lean import LeanList
from tests.factories import EndpointFactory, InstanceOfferingFactory, UserFactory

pytestmark = pytest.mark.django_db


def _varied(team, gpu_l4):
    approver = UserFactory(username="carol")
    offering = InstanceOfferingFactory(gpu_type=gpu_l4, instance_type="g6.12xlarge")
    EndpointFactory(team=team, name="plain")
    EndpointFactory(
        team=team,
        name="scheduled",
        schedule_enabled=True,
        schedule_timezone="Europe/Berlin",
        schedule_start=time(8, 0),
        schedule_end=time(18, 30),
        approved_by=approver,
        monthly_cost_min=Decimal("12.345678"),
        url="https://x.example/v1",
        offering=offering,
        gpu_type=gpu_l4,
    )
    EndpointFactory(team=team, name="no-offering", offering=None, requested_by=None, url="")


@pytest.mark.parametrize("joined", [ENDPOINT_LIST_JOINED, ENDPOINT_RELATED, ()])
def test_rows_render_the_same_json_as_the_serializer(team, gpu_l4, joined):
    _varied(team, gpu_l4)
    qs = (
        Endpoint.objects.select_related(*ENDPOINT_RELATED)
        .prefetch_related(*ENDPOINT_PREFETCH)
        .order_by("name")
    )
    lean = LeanList.for_serializer(EndpointSerializer, joined=joined)
    assert lean is not None
    expected = JSONRenderer().render(EndpointSerializer(qs, many=True).data)
    got = JSONRenderer().render(lean.represent(lean.values(qs)))
    assert got == expected  # same keys in the same order, same values
    assert b'"approved_by":"carol"' in got and b'"instance_type":null' in got


def test_the_page_is_one_query(team, gpu_l4, django_assert_num_queries):
    _varied(team, gpu_l4)
    lean = LeanList.for_serializer(EndpointSerializer, joined=ENDPOINT_LIST_JOINED)
    with django_assert_num_queries(1) as captured:  # the related rows' keys: subqueries
        lean.represent(lean.values(Endpoint.objects.order_by("team__slug", "name")))
    sql = captured.captured_queries[0]["sql"]
    assert sql.count(" JOIN ") == 1 and '"portal_team"' in sql  # joined for the ordering only
    assert sql.count("ORDER BY") == 1  # none in the subqueries (the catalog's default orders)


def test_unjoined_relations_are_read_by_subqueries(team, gpu_l4):
    _varied(team, gpu_l4)
    got = _same_json(_UnjoinedPath, Endpoint.objects.order_by("name"), joined=())
    assert got.count(b'"kind":null') == 1 and b'"kind":"g6.12xlarge"' in got


class _WithMethod(serializers.ModelSerializer):
    shout = serializers.SerializerMethodField()

    class Meta:
        model = Endpoint
        fields = ["uuid", "shout"]

    def get_shout(self, obj):
        return obj.name.upper()


class _WithProperty(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = ["uuid", "is_final"]


class _UnjoinedPath(serializers.ModelSerializer):
    kind = serializers.CharField(
        source="offering.instance_type", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Endpoint
        fields = ["uuid", "kind"]


class _RelatedString(serializers.ModelSerializer):
    team_name = serializers.CharField(source="team", read_only=True)  # str(team)

    class Meta:
        model = Endpoint
        fields = ["uuid", "team_name"]


class _DeepPath(serializers.ModelSerializer):
    gpu = serializers.CharField(source="offering.gpu_type.name", read_only=True)

    class Meta:
        model = Endpoint
        fields = ["uuid", "gpu"]


@pytest.mark.parametrize("serializer", [_WithMethod, _WithProperty, _RelatedString, _DeepPath])
def test_what_it_cannot_read_from_columns_is_left_to_the_serializer(serializer):
    assert LeanList.for_serializer(serializer, joined=("team",)) is None


# Every kind of converter (portal.api.lean._converter), each with its field's own arguments:
# a wrong converter changes a byte of the JSON.
class _EveryKind(serializers.ModelSerializer):
    uuid_hex = serializers.UUIDField(source="uuid", format="hex", read_only=True)
    uuid_int = serializers.UUIDField(source="uuid", format="int", read_only=True)
    number_choice = serializers.ChoiceField(source="name", choices=[(1, "one")], read_only=True)
    cost_places = serializers.DecimalField(
        source="monthly_cost_min", max_digits=6, decimal_places=1, read_only=True
    )
    cost_down = serializers.DecimalField(
        source="monthly_cost_min",
        max_digits=8,
        decimal_places=1,
        rounding=decimal.ROUND_DOWN,
        coerce_to_string=False,
        read_only=True,
    )
    cost_free = serializers.DecimalField(
        source="monthly_cost_min", max_digits=None, decimal_places=None, read_only=True
    )
    created_stamp = serializers.DateTimeField(
        source="created_at", format="%Y-%m-%d %H:%M %z", read_only=True
    )
    created_kolkata = serializers.DateTimeField(
        source="created_at", default_timezone=zoneinfo.ZoneInfo("Asia/Kolkata"), read_only=True
    )
    created_raw = serializers.DateTimeField(source="created_at", format=None, read_only=True)
    start_iso = serializers.TimeField(source="schedule_start", read_only=True)
    start_words = serializers.TimeField(source="schedule_start", format="%I %p", read_only=True)
    url_or_null = BlankAsNullURLField(source="url", read_only=True)  # its own to_representation

    class Meta:
        model = Endpoint
        fields = [
            "uuid",  # UUID, hex_verbose
            "name",  # as read: a string
            "gpu_count",  # as read: an integer
            "schedule_enabled",  # as read: a boolean
            "status",  # a choice of strings: as read
            "monthly_cost_min",  # decimal: 2 places, a string
            "created_at",  # ISO 8601, UTC as Z
            "schedule_start",  # TimeField, ISO
            "url",  # URLField: as read
            "uuid_hex",
            "uuid_int",
            "number_choice",
            "cost_places",
            "cost_down",
            "cost_free",
            "created_stamp",
            "created_kolkata",
            "created_raw",
            "start_iso",
            "start_words",
            "url_or_null",
        ]


class _Months(serializers.ModelSerializer):
    month_words = serializers.DateField(source="month", format="%d %B %Y", read_only=True)
    closed_stamp = serializers.DateTimeField(source="closed_at", format="%H:%M", read_only=True)

    class Meta:
        model = Chargeback
        fields = ["month", "month_words", "status", "version", "closed_at", "closed_stamp"]


def _kinds(team, gpu_l4):
    EndpointFactory(
        team=team,
        name="1",  # number_choice: the choice 1 (an integer), not "1"
        monthly_cost_min=Decimal("12.345678"),  # stored as 12.35
        schedule_start=time(8, 5),
        gpu_type=gpu_l4,
    )
    EndpointFactory(
        team=team,
        name="odd",
        monthly_cost_min=Decimal("-0.05"),
        schedule_start=time(23, 59, 30),
        url="https://x.example/v1",
    )
    Endpoint.objects.filter(name="odd").update(
        status="no-such-status", created_at=datetime(2026, 7, 1, 22, 30, 15, 123456, tzinfo=UTC)
    )
    EndpointFactory(team=team, name="nulls", monthly_cost_min=None, schedule_start=None)
    Chargeback.objects.create(
        month=date(2026, 11, 1), closed_at=datetime(2026, 12, 1, 3, 4, tzinfo=UTC)
    )
    Chargeback.objects.create(month=date(2026, 12, 1))


def _same_json(serializer, queryset, joined=()):
    lean = LeanList.for_serializer(serializer, joined=joined)
    assert lean is not None
    expected = JSONRenderer().render(serializer(queryset, many=True).data)
    got = JSONRenderer().render(lean.represent(lean.values(queryset)))
    assert got == expected
    return got


def test_every_converter_answers_what_its_field_does(team, gpu_l4):
    _kinds(team, gpu_l4)
    got = _same_json(_EveryKind, Endpoint.objects.order_by("name"))
    assert b'"number_choice":1,' in got and b'"status":"no-such-status"' in got
    assert b'"created_at":"2026-07-01T22:30:15.123456Z"' in got
    assert b'"created_kolkata":"2026-07-02T04:00:15.123456+05:30"' in got
    assert b'"cost_places":"12.4"' in got and b'"cost_down":12.3,' in got  # half-even, down
    assert b'"start_words":"11 PM"' in got and b'"schedule_start":"08:05:00"' in got
    got = _same_json(_Months, Chargeback.objects.order_by("month"))
    assert b'"month_words":"01 November 2026"' in got and b'"closed_stamp":"03:04"' in got


@pytest.mark.parametrize(
    "rest_framework",
    [
        {"COERCE_DECIMAL_TO_STRING": False},
        {"DATETIME_FORMAT": "%d.%m.%Y %H:%M:%S", "TIME_FORMAT": "%H.%M", "DATE_FORMAT": None},
        {"DATETIME_FORMAT": None, "TIME_FORMAT": None, "DATE_FORMAT": "%Y/%m"},
    ],
)
def test_the_rest_framework_settings_are_honoured(team, gpu_l4, settings, rest_framework):
    _kinds(team, gpu_l4)
    _same_json(_EveryKind, Endpoint.objects.order_by("name"))  # built with the old settings
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, **rest_framework}
    _same_json(_EveryKind, Endpoint.objects.order_by("name"))
    _same_json(_Months, Chargeback.objects.order_by("month"))


def test_the_current_time_zone_is_honoured(team, gpu_l4):
    _kinds(team, gpu_l4)
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        got = _same_json(_EveryKind, Endpoint.objects.order_by("name"))
    assert b'"created_at":"2026-07-01T18:30:15.123456-04:00"' in got
    assert b'"created_at":"2026-07-01T22:30:15.123456Z"' in _same_json(
        _EveryKind, Endpoint.objects.order_by("name")
    )


def test_plain_values_are_converted_without_the_fields(team, gpu_l4, monkeypatch):
    """The converters are DRF's formatting written out once, not calls into the fields (a
    call per value and field was ~4.6 ms of a page of 50 endpoints)."""
    _kinds(team, gpu_l4)
    lean = LeanList.for_serializer(_EveryKind, joined=())
    as_read = {e.name for e in lean.entries if e.convert is None}
    assert as_read == {"name", "gpu_count", "schedule_enabled", "status", "created_raw", "url"}
    for kind in (
        serializers.CharField,
        serializers.IntegerField,
        serializers.BooleanField,
        serializers.ChoiceField,
        serializers.UUIDField,
        serializers.DecimalField,
        serializers.DateTimeField,
        serializers.TimeField,
    ):
        monkeypatch.setattr(kind, "to_representation", _refuse)
    rows = lean.represent(lean.values(Endpoint.objects.order_by("name")))
    assert [r["url_or_null"] for r in rows] == [None, None, "https://x.example/v1"]


def _refuse(self, value):
    raise AssertionError(f"{type(self).__name__}.to_representation called")


def test_it_is_built_once_per_serializer_class():
    first = LeanList.for_serializer(EndpointSerializer, joined=ENDPOINT_RELATED)
    assert LeanList.for_serializer(EndpointSerializer, joined=ENDPOINT_RELATED) is first
    assert LeanList.for_serializer(EndpointSerializer, joined=("team",)) is not first


@pytest.mark.parametrize("zone", [UTC, zoneinfo.ZoneInfo("UTC"), zoneinfo.ZoneInfo("Etc/UTC")])
def test_utc_is_written_as_drf_writes_it(zone):
    """The UTC shortcut (datetime's own UTC, not zoneinfo's) answers DRF's text for values in
    any zone, with and without microseconds."""
    from portal.api.lean import _datetime

    field = serializers.DateTimeField()
    convert = _datetime(field, zone)
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    values = [
        datetime(2026, 7, 1, 22, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 7, 1, 22, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 30, tzinfo=berlin, fold=1),
        datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    ]
    with timezone.override(zone):
        assert [convert(v) for v in values] == [field.to_representation(v) for v in values]
    assert convert(values[1]) == "2026-07-01T22:30:00Z"
