"""Small everyday fixes from issue 13: "just now" instead of "0 minutes ago", a confirmation
before Stop."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.templatetags.portal import ago
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates


@pytest.fixture
def endpoint(team):
    return EndpointFactory(team=team, status="ready")


def test_ago_says_just_now_under_a_minute_and_minutes_after():
    now = timezone.now()
    assert ago(now) == "just now"
    assert ago(now - timedelta(seconds=59)) == "just now"
    assert ago(now - timedelta(minutes=5, seconds=3)) == "5\xa0minutes ago"
    assert ago(None) == ""


def test_detail_page_never_says_0_minutes_and_confirms_stop(member_client, endpoint):
    html = member_client.get(
        reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    ).content.decode()
    assert "0\xa0minutes ago" not in html and "0 minutes ago" not in html
    assert "just now" in html  # the endpoint was just requested
    assert f'data-confirm="Stop {endpoint.name}? It scales to zero' in html
    assert "onsubmit=" not in html and "onclick=" not in html  # the CSP forbids inline handlers


def test_a_missing_page_is_the_plain_404_page(member_client, settings):
    settings.DEBUG = False
    r = member_client.get("/no-such-page/")
    assert r.status_code == 404
    html = r.content.decode()
    assert "Page not found" in html and "URLconf" not in html


def test_timeline_tags_match_the_event(
    member_client, team, member, llama_8b, gpu_l4, django_capture_on_commit_callbacks
):
    """'Requested by' is not tagged Approved (the automatic approval is), 'Stopped by' is not
    tagged Applying."""
    from deployments.endpoints.services import request_endpoint, stop_endpoint

    spec = {
        "name": "chat",
        "model": llama_8b,
        "gpu_type": gpu_l4,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 4096,
        "min_replicas": 1,
        "max_replicas": 1,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
    }
    with django_capture_on_commit_callbacks():
        ep = request_endpoint(team, member, spec)
    requested = ep.events.get(kind="request")
    approved = ep.events.get(kind="approval")
    assert requested.new_status == "" and approved.new_status == "approved"
    ep.status = "ready"
    ep.save()
    with django_capture_on_commit_callbacks():
        stop_endpoint(ep, member)
    html = member_client.get(reverse("deployments:endpoint_status", args=[ep.uuid])).content
    html = html.decode().split('<ol class="timeline">')[1]
    stopped = html.split(f"Stopped by {member}.")[0].rsplit('<li class="event', 1)[1]
    assert "Applying" not in stopped
    request_item = html.split(f"Requested by {member}.")[0].rsplit('<li class="event', 1)[1]
    assert "Approved" not in request_item
    approval_item = html.split("Approved automatically")[0].rsplit('<li class="event', 1)[1]
    assert "Approved" in approval_item  # the badge on the approval itself
