"""{% event_time %} writes what the timeline's three |date filters wrote."""

import datetime as dt

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

OLD = (
    """<time datetime="{{ when|date:'c' }}" title="{{ when|date:'Y-m-d H:i:s' }} UTC">"""
    """{{ when|date:"M j, H:i:s" }}</time>"""
)
NEW = "{% load deployments %}{% event_time when %}"

MOMENTS = [
    dt.datetime(2026, 12, 6, 19, 5, 7, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=dt.UTC),
    dt.datetime(2025, 5, 31, 23, 59, 59, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    dt.datetime(999, 9, 9, 9, 9, 9, tzinfo=dt.UTC),
    dt.datetime(2026, 7, 4, 12, 0, 1),  # naive
    None,
]


@pytest.mark.parametrize("when", MOMENTS)
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns"])
@pytest.mark.parametrize("language", ["en", "de"])
def test_event_time_writes_what_the_date_filters_wrote(when, zone, language):
    with timezone.override(zone), translation.override(language):
        old = Template(OLD).render(Context({"when": when}))
        new = Template(NEW).render(Context({"when": when}))
    assert new == old


def test_the_timeline_shows_every_event_with_its_time(member_client, team, gpu_l4):
    from deployments.endpoints.views import TIMELINE_LENGTH
    from tests.factories import EndpointEventFactory, EndpointFactory

    endpoint = EndpointFactory(team=team, gpu_type=gpu_l4)
    for i in range(TIMELINE_LENGTH + 2):
        EndpointEventFactory(endpoint=endpoint, message=f"event number {i} <b>")
    html = member_client.get(f"/endpoints/{endpoint.uuid}/status/").content.decode()
    assert html.count("<time datetime=") == TIMELINE_LENGTH
    assert html.count('UTC">') == TIMELINE_LENGTH and "event number 1 &lt;b&gt;" not in html
    assert f"event number {TIMELINE_LENGTH + 1} &lt;b&gt;" in html
