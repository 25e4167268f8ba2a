"""The billing admin pages open for staff; usage rows and statements are read-only there."""

import pytest
from django.urls import reverse

from tests.factories import UsageRecordFactory

pytestmark = [pytest.mark.dates, pytest.mark.django_db]


@pytest.mark.parametrize(
    "model",
    ["usagerecord", "billingpolicy", "referenceprice", "chargeback", "statement", "budgetalert"],
)
def test_changelists_open(staff_client, model):
    UsageRecordFactory()
    assert staff_client.get(reverse(f"admin:billing_{model}_changelist")).status_code == 200


def test_usage_rows_cannot_be_added_by_hand(staff_client):
    assert staff_client.get(reverse("admin:billing_usagerecord_add")).status_code == 403
