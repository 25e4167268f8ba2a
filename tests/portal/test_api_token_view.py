from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal.models import AuditLog

URL = reverse("portal:api_token")


def test_page_explains_there_is_no_token_yet(member_client):
    assert "You have no API token yet." in member_client.get(URL).content.decode()


def test_creating_a_token_shows_it_once_and_it_works_for_the_api(member_client, member, team):
    response = member_client.post(URL)
    key = Token.objects.get(user=member).key
    assert key in response.content.decode()
    assert key not in member_client.get(URL).content.decode()  # shown once
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/teams/").json()["results"][0]["slug"] == team.slug
    assert AuditLog.objects.filter(action="token.create", object_id=str(member.uuid)).exists()


def test_replacing_the_token_revokes_the_old_one(member_client, member):
    member_client.post(URL)
    old = Token.objects.get(user=member).key
    member_client.post(URL)
    new = Token.objects.get(user=member).key
    assert old != new
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert api.get("/api/v1/teams/").status_code == 401
    assert AuditLog.objects.filter(action="token.rotate").exists()


def test_anonymous_is_sent_to_login(client, db):
    assert client.post(URL).status_code == 302
    assert not Token.objects.exists()


def test_put_is_405(member_client):
    assert member_client.put(URL).status_code == 405
