from portal.models import TeamGpuQuota
from tests.factories import GpuTypeFactory

LIST = "/api/v1/teams/"


def test_member_lists_only_their_teams_with_their_role(api_client, team, other_team):
    body = api_client.get(LIST).json()
    assert [(t["slug"], t["role"]) for t in body["results"]] == [("search", "member")]


def test_team_detail_shows_quota_and_namespace(api_client, team):
    TeamGpuQuota.objects.create(team=team, gpu_type=GpuTypeFactory(name="H100"), max_gpus=4)
    body = api_client.get(f"{LIST}{team.uuid}/").json()
    assert body["max_gpus"] == 16 and body["namespace"] == "mp-search"
    assert body["gpu_quotas"] == [{"gpu_type": "H100", "max_gpus": 4}]


def test_members_lists_users_and_roles(api_client, team, owner, member, viewer):
    body = api_client.get(f"{LIST}{team.uuid}/members/").json()
    assert [(m["username"], m["role"]) for m in body] == [
        ("alice", "admin"),
        ("bob", "member"),
        ("vera", "viewer"),
    ]


def test_outsider_gets_404(api_client_for, outsider, team):
    client = api_client_for(outsider)
    assert client.get(f"{LIST}{team.uuid}/").status_code == 404
    assert client.get(f"{LIST}{team.uuid}/members/").status_code == 404


def test_staff_see_all_teams(api_client_for, staff, team, other_team):
    slugs = [t["slug"] for t in api_client_for(staff).get(LIST).json()["results"]]
    assert slugs == ["ads", "search"]


def test_filter_by_slug(api_client_for, staff, team, other_team):
    body = api_client_for(staff).get(LIST, {"slug": "ads"}).json()
    assert [t["slug"] for t in body["results"]] == ["ads"]


def test_teams_are_read_only(api_client, team):
    assert api_client.post(LIST, {"name": "x"}, format="json").status_code == 405
    assert (
        api_client.patch(f"{LIST}{team.uuid}/", {"max_gpus": 99}, format="json").status_code == 405
    )


def test_list_query_count_is_constant(api_client_for, staff, django_assert_max_num_queries):
    from tests.factories import TeamFactory

    client = api_client_for(staff)
    TeamFactory()
    with django_assert_max_num_queries(10) as few:
        client.get(LIST)
    for _ in range(10):
        TeamFactory()
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(LIST)


def test_viewer_can_read(api_client_for, viewer, team):
    assert api_client_for(viewer).get(f"{LIST}{team.uuid}/").json()["role"] == "viewer"


def test_the_webhook_url_is_never_answered_only_its_host(api_client_for, viewer, owner, team):
    team.alert_webhook_url = "https://hooks.slack.com/services/T000/B000/s3cr3tPathToken"
    team.save()
    for user in (viewer, owner):
        client = api_client_for(user)
        for body in (
            client.get("/api/v1/teams/").content,
            client.get(f"/api/v1/teams/{team.uuid}/").content,
        ):
            assert b"s3cr3tPathToken" not in body
        detail = client.get(f"/api/v1/teams/{team.uuid}/").json()
        assert detail["alert_webhook_host"] == "hooks.slack.com"
        assert "alert_webhook_url" not in detail
