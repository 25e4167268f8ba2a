"""The advisor fragment of the team cost page and dismissing a suggestion from it (HTMX)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import SavingsDismissal

from .advisor_helpers import NOW, frozen_now, price_catalog, spot_candidate

pytestmark = pytest.mark.dates

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def chat(team, time_machine):
    frozen_now(time_machine)
    return spot_candidate(team, price_catalog())


def _url(team, name="billing:savings_advisor"):
    return reverse(name, args=[team.slug])


def test_cost_page_loads_the_advisor_fragment(member_client, team, chat):
    response = member_client.get(reverse("billing:team_costs", args=[team.slug]))
    assert response.status_code == 200
    assert f'hx-get="{_url(team)}"' in response.content.decode()


def test_partial_shows_suggestions_with_their_monthly_saving(member_client, team, chat):
    response = member_client.get(_url(team), **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'data-kind="spot"' in body and "$720.00" in body
    assert "Dismiss" in body
    assert "per calendar month (720 hours)" in body  # November, the frozen month


def test_without_htmx_the_advisor_is_a_full_page(member_client, team, chat):
    response = member_client.get(_url(team))
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body and "$720.00" in body


def test_viewer_sees_suggestions_without_dismiss_buttons(viewer_client, team, chat):
    body = viewer_client.get(_url(team), **HX).content.decode()
    assert "$720.00" in body and "Dismiss" not in body


def test_outsider_gets_404(outsider_client, team, chat):
    assert outsider_client.get(_url(team), **HX).status_code == 404
    post = outsider_client.post(_url(team, "billing:savings_dismiss"), {"kind": "spot"}, **HX)
    assert post.status_code == 404


def test_wrong_methods_get_405(member_client, team, chat):
    assert member_client.post(_url(team)).status_code == 405
    assert member_client.get(_url(team, "billing:savings_dismiss")).status_code == 405


def test_htmx_dismiss_records_who_and_when_and_returns_the_fragment(
    member_client, member, team, chat
):
    response = member_client.post(
        _url(team, "billing:savings_dismiss"), {"kind": "spot", "endpoint": str(chat.uuid)}, **HX
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'data-kind="spot"' not in body and "1 dismissed" in body
    d = SavingsDismissal.objects.get()
    assert (d.team, d.endpoint, d.kind, d.dismissed_by, d.dismissed_at) == (
        team,
        chat,
        "spot",
        member,
        NOW,
    )
    assert d.monthly_saving == Decimal("720.00")


def test_owner_dismiss_without_htmx_redirects_to_the_cost_page(owner_client, team, chat):
    response = owner_client.post(
        _url(team, "billing:savings_dismiss"), {"kind": "spot", "endpoint": str(chat.uuid)}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:team_costs", args=[team.slug])
    assert SavingsDismissal.objects.count() == 1


def test_viewer_may_not_dismiss(viewer_client, team, chat):
    response = viewer_client.post(
        _url(team, "billing:savings_dismiss"), {"kind": "spot", "endpoint": str(chat.uuid)}, **HX
    )
    assert response.status_code == 403
    assert not SavingsDismissal.objects.exists()


@pytest.mark.parametrize("kind", ["nonsense", "off_hours"])
def test_dismissing_what_is_not_suggested_shows_an_error(member_client, team, chat, kind):
    response = member_client.post(
        _url(team, "billing:savings_dismiss"), {"kind": kind, "endpoint": str(chat.uuid)}, **HX
    )
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    assert not SavingsDismissal.objects.exists()


def test_an_unknown_endpoint_is_404(member_client, team, chat):
    for value in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = member_client.post(
            _url(team, "billing:savings_dismiss"), {"kind": "spot", "endpoint": value}, **HX
        )
        assert response.status_code == 404


def test_a_team_without_usage_gets_no_suggestions_and_says_why(member_client, team, time_machine):
    frozen_now(time_machine)
    body = member_client.get(_url(team), **HX).content.decode()
    assert 'data-testid="advisor-empty"' in body and "No default reference price" in body
    assert 'data-testid="advisor-total"' not in body
