"""The API answers what its schema says, for the classes of mismatch schemathesis found
(issue 11; scripts/fuzz.sh runs it in CI): JSON 404s for paths no route matches, null for an
unknown URL, HH:MM times, typed query parameters read strictly, `page` a page number."""

from datetime import time

import pytest

from tests.factories import EndpointFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/v1/endpoints/0.5/"),
        ("get", "/api/v1/batch-jobs/not-a-uuid/events/"),
        ("post", "/api/v1/endpoints/0.5/scale/"),
        ("get", "/api/v1/chargeback/usage/x/"),
        ("get", "/api/v1/no-such-resource/"),
    ],
)
def test_an_api_path_no_route_matches_answers_json_404(api_client, method, path):
    resp = getattr(api_client, method)(path)
    assert resp.status_code == 404
    assert resp["Content-Type"] == "application/json"
    assert resp.json() == {"detail": "Not found."}


def test_pages_outside_the_api_keep_the_html_404(member_client):
    resp = member_client.get("/no-such-page/")
    assert resp.status_code == 404 and resp["Content-Type"].startswith("text/html")


@pytest.fixture
def endpoint(team, member):
    return EndpointFactory(team=team, url="", schedule_start=time(9, 0), schedule_end=time(17, 30))


def test_an_unknown_url_is_null_not_an_empty_string(api_client, endpoint, team):
    body = api_client.get(f"/api/v1/endpoints/{endpoint.uuid}/").json()
    assert body["url"] is None
    assert api_client.get(f"/api/v1/teams/{team.uuid}/").json()["alert_webhook_host"] is None
    endpoint.url = "http://ep.search.example/v1"
    endpoint.save(update_fields=["url"])
    assert api_client.get(f"/api/v1/endpoints/{endpoint.uuid}/").json()["url"] == endpoint.url


def test_schedule_times_are_answered_as_hh_mm(api_client, endpoint):
    body = api_client.get(f"/api/v1/endpoints/{endpoint.uuid}/").json()
    assert (body["schedule_start"], body["schedule_end"]) == ("09:00", "17:30")


@pytest.mark.parametrize("value", ["09:00:00", "9:00", "24:00", "12:60", 900])
def test_schedule_times_other_than_hh_mm_are_a_400(api_client_for, owner, endpoint, value):
    resp = api_client_for(owner).patch(
        f"/api/v1/endpoints/{endpoint.uuid}/", {"schedule_start": value}, format="json"
    )
    assert resp.status_code == 400, resp.content
    assert "schedule_start" in resp.json()


@pytest.mark.parametrize(
    "path,query,field",
    [
        ("/api/v1/gpu-types/", "enabled=null", "enabled"),
        ("/api/v1/models/", "enabled=", "enabled"),
        ("/api/v1/endpoints/", "include_deleted=yes", "include_deleted"),
        ("/api/v1/endpoints/", "capacity_type=", "capacity_type"),
        ("/api/v1/chargeback/usage/", "start=", "start"),
        ("/api/v1/chargeback/usage/", "kind=", "kind"),
        ("/api/v1/chargeback/statements/", "month=", "month"),
        ("/api/v1/chargeback/teams/search/", "month=", "month"),
    ],
)
def test_a_typed_query_parameter_given_empty_or_unreadable_is_a_400(
    api_client, team, path, query, field
):
    resp = api_client.get(f"{path}?{query}")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()


def test_typed_query_parameters_still_filter(api_client, team):
    assert api_client.get("/api/v1/gpu-types/?enabled=true").status_code == 200
    assert api_client.get("/api/v1/endpoints/?include_deleted=false&team=").status_code == 200
    assert api_client.get("/api/v1/chargeback/statements/?month=2026-11").status_code == 200


@pytest.mark.parametrize("page", ["", "0", "x", "-3", "99"])
def test_page_must_be_a_page_number(api_client, page):
    resp = api_client.get(f"/api/v1/endpoints/?page={page}")
    assert resp.status_code == 404, resp.content
    assert resp.json() == {"detail": "Invalid page."}
    assert api_client.get("/api/v1/endpoints/?page=1").status_code == 200
    assert api_client.get("/api/v1/endpoints/?page=last").status_code == 200


@pytest.mark.parametrize("zone", ["../etc", "Europe Berlin", "/UTC"])
def test_a_time_zone_that_is_not_an_iana_name_is_a_400(api_client_for, owner, endpoint, zone):
    resp = api_client_for(owner).patch(
        f"/api/v1/endpoints/{endpoint.uuid}/", {"schedule_timezone": zone}, format="json"
    )
    assert resp.status_code == 400, resp.content
    assert "schedule_timezone" in resp.json()


def test_the_schema_is_generated_one_request_at_a_time(monkeypatch, rf):
    """drf-spectacular's lazy extension loading is not thread-safe: two first /api/schema/
    requests at once in a threaded worker answered one 500 (schemathesis, gunicorn gthread)."""
    import threading
    import time as clock

    from drf_spectacular.views import SpectacularAPIView

    from portal.api.schema import SchemaView

    running, most = [0], [0]

    def generate(self, request, *args, **kwargs):
        running[0] += 1
        most[0] = max(most[0], running[0])
        clock.sleep(0.2)
        running[0] -= 1
        return None

    monkeypatch.setattr(SpectacularAPIView, "get", generate)
    view = SchemaView()
    threads = [threading.Thread(target=view.get, args=(rf.get("/api/schema/"),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1


def test_an_empty_format_is_a_400_not_the_default_renderer(api_client, endpoint):
    """Found by scripts/fuzz.sh: `?format=` (given empty) answered 200 JSON."""
    url = f"/api/v1/endpoints/{endpoint.uuid}/manifests/"
    for path in (url, "/api/v1/endpoints/"):
        response = api_client.get(path, {"format": ""})
        assert response.status_code == 400, path
        assert response["Content-Type"].startswith("application/json")
        assert "format" in response.json()
    assert api_client.get(url, {"format": "yaml"})["Content-Type"].startswith("application/yaml")
    assert api_client.get(url).status_code == 200
