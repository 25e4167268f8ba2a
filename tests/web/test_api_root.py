"""`GET /api/v1/` lists every resource group; the admin says ModelPort."""

from django.urls import reverse

from web.api_root import GROUPS


def test_api_root_lists_every_resource_group_and_each_link_answers(api_client):
    body = api_client.get("/api/v1/").json()
    assert set(body) == {key for key, _ in GROUPS} | {"schema"}
    assert len(body) >= 10
    for key, url in body.items():
        if key in ("chargeback/platform", "schema"):
            continue  # platform staff only / a document of its own
        assert api_client.get(url).status_code == 200, key


def test_api_root_needs_authentication(client):
    assert client.get("/api/v1/").status_code in (401, 403)


def test_admin_is_titled_modelport(admin_client):
    body = admin_client.get(reverse("admin:index")).content.decode()
    assert "ModelPort administration" in body and "Django administration" not in body
