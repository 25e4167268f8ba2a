"""manage.py create_api_token: prints a new key once (hash stored), creates none when the user
already has a live token of that name, clear errors for bad input."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from portal.models import ApiToken
from portal.tokens import hash_key


def _run(*args):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_prints_a_working_key_once_and_stores_its_hash(member, team):
    key, _err = _run(member.username, "--name", "ci", "--expires-in-days", "30")
    token = ApiToken.objects.get(user=member)
    assert token.name == "ci" and token.digest == hash_key(key) != key
    assert timedelta(days=29) < token.expires_at - token.created_at <= timedelta(days=30)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/teams/").json()["results"][0]["slug"] == team.slug


def test_second_run_creates_nothing_and_prints_no_key(member):
    first, _ = _run(member.username)
    second, err = _run(member.username)
    assert second == "" and "already has a live token named 'automation'" in err
    assert ApiToken.objects.filter(user=member).count() == 1
    assert first not in err


def test_a_new_token_once_the_old_one_is_revoked(member):
    _run(member.username)
    ApiToken.objects.update(revoked_at=ApiToken.objects.get().created_at)
    key, _ = _run(member.username)
    assert key.startswith("mp_") and ApiToken.objects.count() == 2


def test_unknown_user_is_an_error(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        _run("ghost")


@pytest.mark.parametrize("days", ["0", "99999999"])
def test_expiry_out_of_range_is_an_error(member, days):
    with pytest.raises(CommandError, match="between 1 and 3650"):
        _run(member.username, "--expires-in-days", days)
    assert not ApiToken.objects.exists()
