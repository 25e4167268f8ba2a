"""portal.api.lean.LeanList answers what the serializer answers, from values() rows."""

from datetime import time
from decimal import Decimal

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from deployments.endpoints.api.serializers import EndpointSerializer
from deployments.endpoints.api.views import ENDPOINT_PREFETCH, ENDPOINT_RELATED
from deployments.endpoints.models import Endpoint
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


def test_rows_render_the_same_json_as_the_serializer(team, gpu_l4):
    _varied(team, gpu_l4)
    qs = (
        Endpoint.objects.select_related(*ENDPOINT_RELATED)
        .prefetch_related(*ENDPOINT_PREFETCH)
        .order_by("name")
    )
    lean = LeanList.for_serializer(EndpointSerializer(), joined=ENDPOINT_RELATED)
    assert lean is not None
    expected = JSONRenderer().render(EndpointSerializer(qs, many=True).data)
    got = JSONRenderer().render(lean.represent(lean.values(qs)))
    assert got == expected  # same keys in the same order, same values
    assert b'"approved_by":"carol"' in got and b'"instance_type":null' in got


def test_the_users_are_read_in_one_query_for_the_page(team, gpu_l4, django_assert_num_queries):
    _varied(team, gpu_l4)
    lean = LeanList.for_serializer(EndpointSerializer(), joined=ENDPOINT_RELATED)
    with django_assert_num_queries(2):  # the page, the usernames of both user columns
        lean.represent(lean.values(Endpoint.objects.order_by("name")))


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
    kind = serializers.CharField(source="offering.instance_type", read_only=True)

    class Meta:
        model = Endpoint
        fields = ["uuid", "kind"]


@pytest.mark.parametrize("serializer", [_WithMethod, _WithProperty, _UnjoinedPath])
def test_what_it_cannot_read_from_columns_is_left_to_the_serializer(serializer):
    assert LeanList.for_serializer(serializer(), joined=("team",)) is None
