"""GET /api/v1/chargeback/teams/{slug}/savings/, GET /api/v1/endpoints/{uuid}/savings/ and
POST /api/v1/chargeback/teams/{slug}/savings/dismiss/."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import ReferencePrice, SavingsDismissal

from .advisor_helpers import frozen_now, price_catalog, spot_candidate

pytestmark = pytest.mark.dates


@pytest.fixture
def chat(team, time_machine):
    frozen_now(time_machine)
    ReferencePrice.objects.create(
        name="Hosted 8B",
        input_per_million=Decimal("0.20"),
        output_per_million=Decimal("0.60"),
        is_default=True,
    )
    return spot_candidate(team, price_catalog())


def _team_url(team, name="savings-team"):
    return reverse(name, args=[team.slug])


def test_team_list_has_the_suggestion_and_the_break_even(
    api_client, team, chat, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = api_client.get(_team_url(team))
    assert response.status_code == 200
    data = response.json()
    assert data["team"] == "search" and data["currency"] == "USD" and data["hours"] == 336
    spot = [s for s in data["suggestions"] if s["kind"] == "spot"]
    assert spot == [
        {
            **spot[0],
            "endpoint": str(chat.uuid),
            "endpoint_name": "chat",
            "monthly_saving": "720.00",
            "current_monthly_cost": "1152.00",  # 1.60 an hour x 720 (November)
            "proposal": {"capacity_type": "spot"},
            "dismissal": None,
        }
    ]
    # 50,000 prompt + 50,000 generated tokens an hour: 0.01 + 0.03 = 0.04 an hour at the API.
    be = data["break_even"]
    assert be["reference_price"] == "Hosted 8B"
    assert (be["self_hosted_monthly"], be["api_monthly"], be["cheaper"]) == (
        "1152.00",
        "28.80",
        "api",
    )
    api = [s for s in data["suggestions"] if s["kind"] == "api"]
    assert api[0]["endpoint"] is None and api[0]["monthly_saving"] == "1123.20"


def test_endpoint_list_has_only_its_suggestions(api_client, chat):
    response = api_client.get(reverse("savings-endpoint", args=[chat.uuid]))
    assert response.status_code == 200
    data = response.json()
    assert {s["endpoint"] for s in data["suggestions"]} == {str(chat.uuid)}
    assert data["break_even"] is None


def test_dismiss_hides_the_suggestion_and_lists_it_as_dismissed(api_client, member, team, chat):
    response = api_client.post(
        _team_url(team, "savings-dismiss"),
        {"kind": "spot", "endpoint": str(chat.uuid)},
        format="json",
    )
    assert response.status_code == 201
    assert response.json() == {
        "kind": "spot",
        "endpoint": str(chat.uuid),
        "monthly_saving": "720.00",
        "dismissed_by": "bob",
        "dismissed_at": "2026-11-18T10:30:00Z",
        "hidden_until": "2027-02-16T10:30:00Z",
    }
    data = api_client.get(_team_url(team)).json()
    assert "spot" not in {s["kind"] for s in data["suggestions"]}
    assert [s["kind"] for s in data["dismissed"]] == ["spot"]
    assert data["dismissed"][0]["dismissal"]["dismissed_by"] == "bob"
    hidden = api_client.get(_team_url(team), {"include_dismissed": "false"}).json()
    assert hidden["dismissed"] == []


def test_dismiss_a_team_wide_suggestion(api_client, team, chat):
    response = api_client.post(_team_url(team, "savings-dismiss"), {"kind": "api"}, format="json")
    assert response.status_code == 201 and response.json()["endpoint"] is None
    assert SavingsDismissal.objects.get().endpoint is None


def test_dismissing_what_is_not_suggested_is_400(api_client, team, chat):
    response = api_client.post(
        _team_url(team, "savings-dismiss"),
        {"kind": "off_hours", "endpoint": str(chat.uuid)},
        format="json",
    )
    assert response.status_code == 400 and "kind" in response.json()
    bad = api_client.post(_team_url(team, "savings-dismiss"), {"kind": "cheaper"}, format="json")
    assert bad.status_code == 400
    assert not SavingsDismissal.objects.exists()


def test_viewer_reads_but_may_not_dismiss(api_client_for, viewer, team, chat):
    client = api_client_for(viewer)
    assert client.get(_team_url(team)).status_code == 200
    response = client.post(_team_url(team, "savings-dismiss"), {"kind": "api"}, format="json")
    assert response.status_code == 403


def test_outsider_gets_404(api_client_for, outsider, team, chat):
    client = api_client_for(outsider)
    assert client.get(_team_url(team)).status_code == 404
    assert client.get(reverse("savings-endpoint", args=[chat.uuid])).status_code == 404
    response = client.post(_team_url(team, "savings-dismiss"), {"kind": "api"}, format="json")
    assert response.status_code == 404


def test_wrong_methods_get_405(api_client, team, chat):
    assert api_client.post(_team_url(team), {}).status_code == 405
    assert api_client.get(_team_url(team, "savings-dismiss")).status_code == 405
    assert api_client.delete(reverse("savings-endpoint", args=[chat.uuid])).status_code == 405


def test_anonymous_gets_401_or_403(client, team, chat):
    assert client.get(_team_url(team)).status_code in (401, 403)


@pytest.mark.parametrize("value", ["null", "", "yes", "False"])
def test_include_dismissed_is_true_or_false_else_400(api_client, team, chat, value):
    """Found by schemathesis (scripts/fuzz.sh): `?include_dismissed=null` answered 200."""
    for url in (_team_url(team), reverse("savings-endpoint", args=[chat.uuid])):
        response = api_client.get(url, {"include_dismissed": value})
        assert response.status_code == 400, (url, value)
        assert "include_dismissed" in response.json()
